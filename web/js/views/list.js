// The workspace's conversation list: a filter (mine / my groups' queue / all, for those who see
// everything), a sort (last message or waiting time), and rows with the unread dot, the channel's
// icon, the customer's initials, name, preview, time, how long a queued one has waited and a slot
// for an SLA badge. Open lists come a page at a time ("Show more"). Live events are applied in
// place (`applyToList`): a row is added, moved, updated or dropped by the list's filter and
// order, and redrawn only when what it shows changed.
import { getPage } from '../api.js';
import { t, language } from '../i18n.js';
import { h, replace, formatTime } from '../dom.js';
import { session } from '../app.js';
import { channelIcon } from '../icons.js';
import { errorText, roles, oversees, avatar, contactName, waitedText } from './common.js';
import { newestFirst, beyond, placed } from './live.js';
import { remembered, remember } from './layout.js';
import { toast } from '../ui.js';

// The list comes in pages of this many ("Show more" asks for the next one); the server's most.
const PAGE = 50;
const MOST = 200;

// Each filter's query, and which conversations belong in it.
const FILTERS = {
  mine: { query: 'status=open&assignee=me', belongs: (c) => c.status !== 'finalized' && assigneeOf(c) === session.me.id },
  queue: { query: 'status=queued&assignee=unassigned', belongs: (c) => c.status === 'queued' && assigneeOf(c) === null },
  all: { query: 'status=open&assignee=all', belongs: (c) => c.status !== 'finalized' },
};
const assigneeOf = (c) => c.assignee?.id ?? c.assignee_id ?? null;

// Since when the customer waits for an answer: the server's waiting_since (their oldest message no
// agent has replied to), null when nobody waits. Those waiting come first, longest first; the
// rest follow, by last message.
const waitingSince = (c) => c.waiting_since ?? null;
function byWait(a, b) {
  const [x, y] = [waitingSince(a), waitingSince(b)];
  if (x === null || y === null) return (x === null) - (y === null) || newestFirst(a, b);
  return x - y || a.id - b.id;
}
const ORDERS = { last: newestFirst, wait: byWait };

// The filters this person has: their own (agents), the queues they serve, everything (those who
// see every conversation: supervisors, administrators, stakeholders).
export function filtersOffered() {
  const all = oversees() || roles().includes('stakeholder');
  return [roles().includes('agent') ? 'mine' : null, 'queue', all ? 'all' : null].filter(Boolean);
}

// box: the <ul>; rows: what it lists; next: the next page's cursor (X-Next-Before), null on the
// last; drawn: each row's node and what it was drawn from; open/current: the open conversation;
// rover: the row that takes the list's one tab stop (the last one focused or opened, else the
// first); opened: the open conversation when the list was last drawn.
let list = { box: null, rows: [], next: null, drawn: new Map(), more: null, open: null, current: () => null, filter: 'all', sort: 'last', rover: null, opened: null };
let ticker = null;

// The list's toolbar and box; `open(id)` opens a conversation, `current()` is the open one's id.
export function listBox({ open, current }) {
  const offered = filtersOffered();
  const saved = remembered();
  const filter = offered.includes(saved.filter) ? saved.filter : offered.includes('all') ? 'all' : offered[0];
  const sort = saved.sort in ORDERS ? saved.sort : 'last';
  const box = h('ul', { class: 'conv-list', 'data-ws-list': '', 'aria-label': t('conversations.list') });
  list = { box, rows: [], next: null, drawn: new Map(), more: null, open, current, filter, sort, rover: null, opened: null };
  box.addEventListener('focusin', (event) => {
    const row = event.target.closest('.conv-item');
    if (row) rove(Number(row.dataset.id));
  });
  clearInterval(ticker);
  // Waiting times and the rows' times move on by themselves.
  ticker = setInterval(() => (box.isConnected ? renderList() : clearInterval(ticker)), 15_000);
  list.tools = toolbar(offered);
  return h('div', { class: 'ws-list-body' }, list.tools, h('div', { class: 'ws-list-scroll' }, box));
}

// The account's roles changed: the filters follow (one no longer offered falls back).
export function syncFilters() {
  const offered = filtersOffered();
  if (!offered.includes(list.filter)) list.filter = offered.includes('all') ? 'all' : offered[0];
  const tools = toolbar(offered);
  list.tools.replaceWith(tools);
  list.tools = tools;
}

function toolbar(offered) {
  const buttons = offered.map((name) => h('button', {
    type: 'button', class: 'ws-filter', 'data-ws-filter': name, 'aria-pressed': String(name === list.filter),
    onclick: () => choose({ filter: name }),
  }, t(`workspace.filter_${name}`)));
  const sort = h('select', { 'data-ws-sort': '', 'aria-label': t('workspace.sort'), onchange: () => choose({ sort: sort.value }) },
    Object.keys(ORDERS).map((name) => h('option', { value: name }, t(`workspace.sort_${name}`))));
  sort.value = list.sort;
  return h('div', { class: 'ws-list-tools' },
    h('div', { class: 'ws-filters', role: 'group', 'aria-label': t('workspace.filters') }, buttons),
    h('label', { class: 'ws-sort' }, h('span', { class: 'sr-only' }, t('workspace.sort')), sort));
}

// Another filter or sort: the buttons say it, the list is read again, the choice is kept.
async function choose(change) {
  Object.assign(list, change);
  remember(change);
  for (const button of list.box.closest('.ws-list-body').querySelectorAll('[data-ws-filter]')) {
    button.setAttribute('aria-pressed', String(button.dataset.wsFilter === list.filter));
  }
  if ('filter' in change) await loadList({ fresh: true }).catch((err) => toast(errorText(err), { kind: 'error' }));
  else {
    list.rows = [...list.rows].sort(order());
    renderList();
  }
}

const order = () => ORDERS[list.sort];
const belongs = (c) => FILTERS[list.filter].belongs(c);

// The list from its start, as many rows as it showed (at least a page): on opening, a resync, a
// reconnect, a change of the account or of a contact; `fresh`: another filter, one page.
export async function loadList({ fresh = false } = {}) {
  const limit = fresh ? PAGE : Math.min(MOST, Math.max(PAGE, list.rows.length));
  const { items, next } = await getPage(`/conversations?${FILTERS[list.filter].query}&limit=${limit}`);
  list.rows = items.sort(order());
  list.next = next;
  renderList();
}

// "Show more": the next page joins the rows shown (one a live update moved up is shown once).
async function loadMore() {
  if (!list.next) return;
  const { items, next } = await getPage(`/conversations?${FILTERS[list.filter].query}&limit=${PAGE}&before=${list.next}`);
  const shown = new Set(list.rows.map((c) => c.id));
  list.rows = [...list.rows, ...items.filter((c) => !shown.has(c.id))].sort(order());
  list.next = next;
  renderList();
}

// A conversation as the server answered it (an action, or read for a live event): into the list
// in its place, or out of it; one that sorts into a page not loaded yet waits for that page.
export function showRow(row) {
  const known = list.rows.some((c) => c.id === row.id);
  const keep = belongs(row) && (known || !beyond(row, list.next));
  list.rows = placed(list.rows, row.id, keep ? row : null, order());
  renderList();
}

// A live event's conversation (`rows`, live.js): its row brought up to date, or read once when
// new to the list; dropped when it left the list (finalized, transferred away, taken).
export async function applyToList(rows) {
  const c = rows.conversation;
  const known = list.rows.find((r) => r.id === c.id);
  if (!belongs(c)) {
    if (known) (list.rows = placed(list.rows, c.id, null, order())), renderList();
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
    const content = JSON.stringify([c.unread, c.contact, c.channel, c.status, c.assignee?.name, c.last_preview, c.last_message_at, list.current() === c.id, waitFor(c), shortTime(c.last_message_at)]);
    const old = list.drawn.get(c.id);
    const node = old?.content === content ? old.node : item(c);
    drawn.set(c.id, { node, content });
    return node;
  });
  list.drawn = drawn;
  // One "Show more" node, kept, so that a live update does not redraw every row around it.
  list.more ??= h('li', { class: 'ws-more' }, h('button', { type: 'button', class: 'secondary', 'data-testid': 'show-more', onclick: () => loadMore().catch((err) => toast(errorText(err), { kind: 'error' })) }, t('conversations.show_more')));
  if (list.next) items.push(list.more);
  const children = [...list.box.children];
  // The open one takes the tab stop when it changes (opened from the list or elsewhere).
  const opened = list.current() ?? null;
  if (opened !== list.opened) {
    list.opened = opened;
    list.rover = opened ?? list.rover;
  }
  // Nothing moved: leave the box alone (an empty list still gets its empty-state line once).
  if (items.length && items.length === children.length && items.every((node, i) => node === children[i])) return rove(list.rover);
  const focused = focusedRow();
  replace(list.box, items.length ? items : h('li', { class: 'muted empty' }, t(list.filter === 'queue' ? 'waiting.empty' : 'conversations.empty')));
  rove(list.rover);
  if (focused) keepFocus(focused);
}

const rowNodes = () => [...(list.box?.querySelectorAll('.conv-item') ?? [])];

// The row with the keyboard focus, and where it was, before a redraw.
function focusedRow() {
  const rows = rowNodes();
  const at = rows.indexOf(document.activeElement);
  return at < 0 ? null : { id: Number(rows[at].dataset.id), at };
}

// A redraw replaced the focused row (its content changed) or dropped it (finalized, transferred):
// the focus stays on that conversation's new row, else on the row that took its place.
function keepFocus({ id, at }) {
  if (list.box.contains(document.activeElement)) return;
  const rows = rowNodes();
  const next = rows.find((node) => Number(node.dataset.id) === id) ?? rows[Math.min(at, rows.length - 1)];
  next?.focus({ preventScroll: true });
}

// Roving focus: one row is in the tab order (Tab enters the list once; j/k and the arrows move
// within it, keys.js), the others are reached from it.
function rove(id) {
  const rows = rowNodes();
  const stop = rows.find((node) => Number(node.dataset.id) === id) ?? rows.find((node) => node.getAttribute('aria-current') === 'true') ?? rows[0];
  list.rover = stop ? Number(stop.dataset.id) : null;
  for (const node of rows) node.tabIndex = node === stop ? 0 : -1;
}

// The list's tab stop, focused and scrolled into view (false when the list is empty).
export function focusList() {
  const stop = rowNodes().find((node) => node.tabIndex === 0);
  if (!stop) return false;
  stop.focus({ preventScroll: true });
  stop.scrollIntoView({ block: 'nearest' });
  return true;
}

// The next (`step` 1) or previous (-1) row focused; from outside the list, its tab stop.
export function moveInList(step) {
  const rows = rowNodes();
  const at = rows.indexOf(document.activeElement);
  if (at < 0) return focusList();
  const to = rows[Math.max(0, Math.min(rows.length - 1, at + step))];
  to.focus({ preventScroll: true });
  to.scrollIntoView({ block: 'nearest' });
  return true;
}

// A conversation as the list shows it (with its contact's name), or null when it is not listed.
export const listedRow = (id) => list.rows.find((c) => c.id === id) ?? null;

// How long a queued one has waited ("3 min"), null for the others.
const waitFor = (c) => (c.status === 'queued' ? waitedText(c.enqueued_at ?? c.created_at) : null);

// Today's times as the hour, older ones as the day.
function shortTime(ms) {
  if (!ms) return '';
  const at = new Date(ms);
  const today = new Date().toDateString() === at.toDateString();
  const lang = language() === 'es' ? 'es' : 'en';
  return today ? at.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' }) : at.toLocaleDateString(lang, { day: 'numeric', month: 'short' });
}

function item(c) {
  const current = list.current() === c.id;
  const kind = c.channel?.kind ?? 'unknown';
  const waited = waitFor(c);
  return h('li', {},
    h('button', {
      type: 'button', class: `conv-item${current ? ' current' : ''}${c.unread ? ' unread' : ''}`, 'data-id': c.id, 'data-conversation': c.id,
      'aria-current': current ? 'true' : null, onclick: () => list.open(c.id),
    },
    avatar(c.contact),
    h('span', { class: 'conv-body' },
      h('span', { class: 'conv-top' },
        c.unread ? h('span', { class: 'dot', role: 'img', 'aria-label': t('conversations.unread'), 'data-testid': 'unread-dot' }) : null,
        h('strong', { class: 'conv-name' }, contactName(c.contact)),
        h('time', { class: 'conv-time', datetime: new Date(c.last_message_at || 0).toISOString(), title: formatTime(c.last_message_at, language()) }, shortTime(c.last_message_at))),
      h('span', { class: 'conv-meta' },
        channelIcon(kind, t(`workspace.channel_${kind}`)),
        h('span', { class: 'conv-where' }, `${c.channel?.name ?? ''} · ${t(`status.${c.status}`)}${c.assignee ? ` · ${c.assignee.name}` : ''}`),
        waited ? h('span', { class: 'badge conv-wait', 'data-testid': 'waited' }, t('waiting.waited', { time: waited })) : null,
        h('span', { 'data-slot': 'sla' })),
      h('span', { class: 'preview' }, c.last_preview))));
}
