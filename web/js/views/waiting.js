// What waits in the queues the reader serves (manual mode, R-CONV-4): contact, channel, last
// message and how long it has waited, marked when past the queue's limit (overflow). Those with the
// dispenser (and supervisors) take one with a click; the others are told who can assign them.
// "Take the next one" says what it took. Live events are applied in place (`applyWaiting`).
import { get, getCounted, post } from '../api.js';
import { t } from '../i18n.js';
import { h, replace } from '../dom.js';
import { session } from '../app.js';
import { errorText, oversees, canDispense, waitedText, contactName as nameOf } from './common.js';
import { remembered, remember } from './layout.js';

// The most the section shows; past it, "and N more" (the server lists them in queue order).
const SHOWN = 50;

let box = null;
let hooks = null;
let waiting = [];
let total = 0;
let ticker = null;

// The section, and what to do with a conversation picked (`open`) or taken (`taken`); `claim`
// wraps the request of a click that takes one (so its own assignment raises no alert); `groups`
// gives the groups the page knows (their queue limits mark the overflow).
export function waitingSection({ open, taken, claim: claimHook, groups }) {
  hooks = { open, taken, claim: claimHook, groups };
  box = h('section', { class: 'waiting', 'data-testid': 'waiting', 'aria-label': t('waiting.title') });
  clearInterval(ticker);
  ticker = setInterval(() => (document.body.contains(box) ? render() : clearInterval(ticker)), 10_000);
  refreshWaiting();
  return box;
}

export async function refreshWaiting() {
  if (!box) return;
  // The server orders waiting ones by their place in line (longest waiting first) before the limit.
  ({ items: waiting, total } = await getCounted(`/conversations?status=queued&assignee=unassigned&limit=${SHOWN}`).catch(() => ({ items: waiting, total })));
  render();
}

// In line: the longest waiting first (the server's queue order).
const inLine = (a, b) => (a.enqueued_at ?? a.created_at) - (b.enqueued_at ?? b.created_at) || a.id - b.id;

const waits = (c) => c.status === 'queued' && (c.assignee?.id ?? c.assignee_id ?? null) === null;

// A live event's conversation (`rows`, live.js): it joins the section in its place in line, has
// its preview updated, or leaves. Exact while the section shows everything that waits; past
// SHOWN the section does not know what follows its last row, and reads the queue again.
export async function applyWaiting(rows) {
  if (!box) return;
  const c = rows.conversation;
  const known = waiting.find((w) => w.id === c.id);
  if (!known && !waits(c)) return;
  if (total > waiting.length) return refreshWaiting();
  const row = waits(c) ? await rows.row(known) : null;
  waiting = waiting.filter((w) => w.id !== c.id);
  if (row && waits(row)) waiting = [...waiting, row].sort(inLine);
  total = waiting.length;
  if (waiting.length > SHOWN) waiting = waiting.slice(0, SHOWN);
  placeInLine();
  render();
}

// A conversation this page took, or one that left the queue (`queue.left`): out of the section.
export function leftWaiting(id) {
  if (!waiting.some((w) => w.id === id)) return;
  waiting = waiting.filter((w) => w.id !== id);
  total = Math.max(waiting.length, total - 1);
  placeInLine();
  render();
}

// Each row's place in its group's line and whether it is past the group's limit (overflow), while
// the section holds every waiting conversation; a group the page does not know keeps the server's.
function placeInLine() {
  if (total > waiting.length) return;
  const groups = hooks?.groups?.() ?? [];
  const lines = new Map();
  for (const c of waiting) {
    const key = c.group?.id ?? null;
    lines.set(key, [...(lines.get(key) ?? []), c]);
  }
  for (const [id, line] of lines) {
    const group = groups.find((g) => g.id === id);
    if (id !== null && !group) continue;
    const max = group?.rules?.max_queue ?? null;
    line.forEach((c, index) => (c.queue = { position: index + 1, overflow: max !== null && index >= max }));
  }
}

const waited = waitedText;
const contactName = (c) => nameOf(c.contact);

// The section folds to its heading (kept in this browser): the list below gets the room.
let folded = remembered().waitingFolded === true;

function fold() {
  folded = !folded;
  remember({ waitingFolded: folded });
  render();
}

function render() {
  const notice = box.querySelector('[data-testid="waiting-notice"]')?.textContent ?? '';
  const items = waiting.map((c) =>
    h('li', { class: 'waiting-item' },
      h('button', { type: 'button', class: 'waiting-entry', 'data-waiting': c.id, onclick: () => hooks.open(c.id) },
        h('strong', {}, contactName(c)),
        h('span', { class: 'muted small' }, ` · ${c.channel?.name ?? ''} · ${c.group?.name ?? t('waiting.general_queue')} · ${t('waiting.waited', { time: waited(c.enqueued_at ?? c.created_at) })}`),
        c.queue?.overflow ? h('span', { class: 'badge failed', 'data-testid': 'overflow-badge' }, ` ${t('waiting.overflow')}`) : null,
        h('div', { class: 'preview' }, c.last_preview)),
      canDispense() ? h('button', { type: 'button', class: 'secondary', 'aria-label': t('waiting.take_named', { contact: contactName(c) }), onclick: () => take(c) }, t('waiting.take')) : null));
  const body = h('div', { class: 'waiting-body', id: 'ws-waiting-body', hidden: folded },
    items.length ? h('ul', { class: 'conv-list' }, items) : h('p', { class: 'muted' }, t('waiting.empty')),
    total > waiting.length ? h('p', { class: 'muted', 'data-testid': 'waiting-more' }, t('waiting.more', { n: total - waiting.length })) : null,
    items.length && !canDispense() && !oversees() ? h('p', { class: 'muted', 'data-testid': 'who-assigns' }, t('waiting.who_assigns')) : null);
  const hadFocus = box.querySelector('.waiting-fold') === document.activeElement;
  replace(box,
    h('h2', {}, h('button', { type: 'button', class: 'waiting-fold', 'aria-expanded': String(!folded), 'aria-controls': 'ws-waiting-body', onclick: fold },
      `${t('waiting.title')} (${Math.max(total, waiting.length)})`)),
    h('p', { class: 'notice', role: 'status', 'data-testid': 'waiting-notice' }, notice),
    body);
  if (hadFocus) box.querySelector('.waiting-fold').focus();
}

const claim = (request) => (hooks?.claim ? hooks.claim(request) : request);

function tell(text) {
  const slot = box?.querySelector('[data-testid="waiting-notice"]');
  if (slot) slot.textContent = text;
}

async function refusal(err) {
  if (err.code !== 'at_capacity') return errorText(err);
  const me = (await get('/agents').catch(() => [])).find((a) => a.id === session.me.id);
  return me ? t('waiting.at_limit', { limit: me.capacity }) : errorText(err);
}

function told(conversation) {
  tell(t('waiting.took', { contact: contactName(conversation), queue: conversation.group?.name ?? t('waiting.general_queue') }));
}

async function take(c) {
  try {
    const conversation = await claim(post(`/conversations/${c.id}/take`));
    told(conversation);
    leftWaiting(conversation.id);
    await hooks.taken(conversation);
  } catch (err) {
    tell(await refusal(err));
    await refreshWaiting();
  }
}

// "Take the next one": says what it took, or that nothing waits.
export async function takeNext() {
  try {
    const conversation = await claim(post('/conversations/next'));
    if (!conversation) {
      tell(t('waiting.nothing'));
      return null;
    }
    told(conversation);
    leftWaiting(conversation.id);
    return conversation;
  } catch (err) {
    tell(await refusal(err));
    return null;
  }
}
