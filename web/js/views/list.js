// The conversations list of the panel: this person's open conversations (all of them for those
// who oversee), newest message first, a page at a time ("Show more"). Live events are applied in
// place (`applyToList`): a row is added, moved, updated or dropped by the list's filter and order,
// and redrawn only when what it shows changed.
import { getPage } from '../api.js';
import { t, language } from '../i18n.js';
import { h, replace, formatTime } from '../dom.js';
import { session } from '../app.js';
import { errorText, roles, oversees } from './common.js';
import { newestFirst, beyond, placed } from './live.js';

// The list comes in pages of this many ("Show more" asks for the next one); the server's most.
const PAGE = 50;
const MOST = 200;

// box: the <ul>; rows: what it lists; next: the next page's cursor (X-Next-Before), null on the
// last; drawn: each row's node and what it was drawn from; open/current: the open conversation.
let list = { box: null, rows: [], next: null, drawn: new Map(), more: null, open: null, current: () => null };

// The list's box; `open(id)` opens a conversation, `current()` is the open one's id.
export function listBox({ open, current }) {
  const box = h('ul', { class: 'conv-list', 'aria-label': t('conversations.list') });
  list = { box, rows: [], next: null, drawn: new Map(), more: null, open, current };
  return box;
}

const query = () => (oversees() || roles().includes('stakeholder') ? 'status=open&assignee=all' : 'status=open&assignee=me');

// Whether a conversation belongs in this person's list: open, and theirs unless they see all.
const belongs = (c) => c.status !== 'finalized' && (query().endsWith('assignee=all') || (c.assignee?.id ?? c.assignee_id) === session.me.id);

// The list from its start, as many rows as it showed (at least a page): on opening, a resync, a
// reconnect, a change of the account or of a contact.
export async function loadList() {
  const limit = Math.min(MOST, Math.max(PAGE, list.rows.length));
  const { items, next } = await getPage(`/conversations?${query()}&limit=${limit}`);
  list.rows = items;
  list.next = next;
  renderList();
}

// "Show more": the next page joins the rows shown (one a live update moved up is shown once).
async function loadMore() {
  if (!list.next) return;
  const { items, next } = await getPage(`/conversations?${query()}&limit=${PAGE}&before=${list.next}`);
  const shown = new Set(list.rows.map((c) => c.id));
  list.rows = [...list.rows, ...items.filter((c) => !shown.has(c.id))].sort(newestFirst);
  list.next = next;
  renderList();
}

// A conversation as the server answered it (an action, or read for a live event): into the list
// in its place, or out of it; one that sorts into a page not loaded yet waits for that page.
export function showRow(row) {
  const known = list.rows.some((c) => c.id === row.id);
  const keep = belongs(row) && (known || !beyond(row, list.next));
  list.rows = placed(list.rows, row.id, keep ? row : null, newestFirst);
  renderList();
}

// A live event's conversation (`rows`, live.js): its row brought up to date, or read once when
// new to the list; dropped when it left the list (finalized, transferred away).
export async function applyToList(rows) {
  const c = rows.conversation;
  const known = list.rows.find((r) => r.id === c.id);
  if (!belongs(c)) {
    if (known) (list.rows = placed(list.rows, c.id, null, newestFirst)), renderList();
    return;
  }
  if (!known && beyond(c, list.next)) return;
  showRow(await rows.row(known));
}

// The person opened a conversation that was unread.
export function markRowRead(id) {
  const row = list.rows.find((c) => c.id === id);
  if (row) row.unread = false;
  renderList();
}

// Rows are drawn once and redrawn only when what they show changed, so a live update leaves the
// others (and their focus) alone.
export function renderList() {
  if (!list.box) return;
  const drawn = new Map();
  const items = list.rows.map((c) => {
    const content = JSON.stringify([c.unread, c.contact, c.channel?.name, c.status, c.assignee?.name, c.last_preview, c.last_message_at, list.current() === c.id]);
    const old = list.drawn.get(c.id);
    const node = old?.content === content ? old.node : item(c);
    drawn.set(c.id, { node, content });
    return node;
  });
  list.drawn = drawn;
  // One "Show more" node, kept, so that a live update does not redraw every row around it.
  list.more ??= h('li', {}, h('button', { type: 'button', class: 'secondary', 'data-testid': 'show-more', onclick: () => loadMore().catch((err) => alert(errorText(err))) }, t('conversations.show_more')));
  if (list.next) items.push(list.more);
  const children = [...list.box.children];
  // Nothing moved: leave the box alone (an empty list still gets its empty-state line once).
  if (items.length && items.length === children.length && items.every((node, i) => node === children[i])) return;
  replace(list.box, items.length ? items : h('li', { class: 'muted empty' }, t('conversations.empty')));
}

function item(c) {
  return h('li', {},
    h('button', { type: 'button', class: `conv-item${list.current() === c.id ? ' current' : ''}`, 'data-conversation': c.id, onclick: () => list.open(c.id) },
      c.unread ? h('span', { class: 'dot', 'aria-label': t('conversations.unread'), 'data-testid': 'unread-dot' }) : null,
      h('strong', {}, c.contact.name || `#${c.contact.id}`),
      h('span', { class: 'muted small' }, ` · ${c.channel?.name ?? ''} · ${t(`status.${c.status}`)}${c.assignee ? ` · ${c.assignee.name}` : ''}`),
      h('div', { class: 'preview' }, c.last_preview),
      h('div', { class: 'muted small' }, formatTime(c.last_message_at, language()))));
}
