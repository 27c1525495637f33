// The workspace's middle pane: the open conversation. A header (customer, channel, status, id, the
// side panel's button, a back button at phone width) with the actions of whoever works it
// (transfer, assign for supervisors, finalize); the messages, scrolling inside, with older ones on
// demand; the composer pinned at the bottom. Live events update it in place: only the parts whose
// content changed are redrawn, and the composer and pickers keep what the person typed and chose.
import { get, post } from '../api.js';
import { t, language } from '../i18n.js';
import { h, replace, formatTime } from '../dom.js';
import { session } from '../app.js';
import { confirmDialog, toast } from '../ui.js';
import { channelIcon, icon } from '../icons.js';
import { errorText, oversees, avatar, contactName } from './common.js';
import { messageOf } from './live.js';
import { showRow, markRowRead, renderList, focusList } from './list.js';
import { messageText, authorName, transferGroups } from './activity.js';
import { composer } from './composer.js';
import { claimed } from './alerts.js';
import { showSide, updateSide, clearSide } from './side.js';
import { showConversation, toggleSide, backToList, syncSideButtons } from './layout.js';
import { view, isWorking, canTransfer, controlsOf, names, stamp, shows, fillSelect, choose } from './workspace.js';

// Messages come in pages of this many (the "older messages" button asks for the next one).
const PAGE = 20;

// The pane's box, with the empty state until a conversation is opened.
export function paneBox() {
  // Not a live region: what a screen reader hears by itself comes from announce.js, short.
  view.pane = h('div', { class: 'ws-conv' });
  closePane();
  return view.pane;
}

// No conversation open (none picked yet, or the open one is no longer the person's to see).
export function closePane() {
  view.open = null;
  view.parts = null;
  replace(view.pane, h('p', { class: 'muted empty' }, t('conversations.pick')));
  clearSide();
}

// Opens a conversation (or brings the open one up to date): the pane, the side panel, the list's
// current row; on a phone it takes the screen. `behind`: one the page opens by itself (a link's
// #conversation=N) stays behind the agents table if the person opened it meanwhile.
export async function openConversation(id, { behind = false } = {}) {
  if (!behind) showAgents(false);
  if (view.open?.id === id) {
    showConversation(id);
    return refreshOpen();
  }
  const [conversation, messages] = await Promise.all([get(`/conversations/${id}`), get(`/conversations/${id}/messages?limit=${PAGE}`)]);
  view.open = conversation;
  view.messages = messages;
  view.hasOlder = messages.length === PAGE;
  renderPane();
  renderList();
  showConversation(id);
  showSide(conversation);
  await markRead(conversation);
}

// Errors of a click that opens a conversation are told, not thrown.
export const openOrTell = (id, options) => openConversation(id, options).catch((err) => toast(errorText(err), { kind: 'error' }));

// The agents table (overseers) in place of the conversation, or the conversation again.
export function showAgents(shown) {
  if (!view.agentsBox) return;
  view.agentsBox.hidden = !shown;
  view.pane.hidden = shown;
  view.agentsToggle?.setAttribute('aria-pressed', String(shown));
}

// The open conversation again, after a live event or an action: its newest messages join the ones
// shown (older pages the person loaded stay) and only what changed is redrawn.
export async function refreshOpen() {
  const id = view.open?.id;
  if (!id) return;
  const [conversation, latest] = await Promise.all([get(`/conversations/${id}`), get(`/conversations/${id}/messages?limit=${PAGE}`)]);
  if (view.open?.id !== id) return;
  view.open = conversation;
  view.messages = mergeMessages(view.messages, latest);
  updatePane();
  await markRead(conversation);
}

// A live event on the open conversation: its new message joins the ones shown and the
// conversation's fields are brought up to date; only the parts that changed are redrawn.
export async function applyToOpen(event, rows) {
  const id = rows.conversation.id;
  if (view.open?.id !== id) return;
  if (event.type === 'message.created' && !view.messages.some((m) => m.id === event.message.id)) {
    const message = messageOf(event, names);
    // An author the page cannot name: read the newest messages instead.
    if (!message) return refreshOpen();
    view.messages = mergeMessages(view.messages, [message]);
  }
  const conversation = await rows.row(view.open);
  if (view.open?.id !== id) return;
  view.open = conversation;
  updatePane();
  await markRead(conversation);
}

async function markRead(conversation) {
  if (!conversation.unread || conversation.assignee?.id !== session.me.id) return;
  await post(`/conversations/${conversation.id}/read`).catch(() => null);
  markRowRead(conversation.id);
}

function mergeMessages(shown, fresh) {
  const byId = new Map(shown.map((m) => [m.id, m]));
  for (const m of fresh) byId.set(m.id, m);
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

async function loadOlder() {
  const oldest = view.messages[0];
  if (!oldest) return;
  const id = view.open.id;
  const older = await get(`/conversations/${id}/messages?before=${oldest.id}&limit=${PAGE}`);
  if (view.open?.id !== id) return;
  view.hasOlder = older.length === PAGE;
  view.messages = mergeMessages(older, view.messages);
  fillLog('prepend');
}

// Which controls the pane holds; while it stays the same a live update leaves them alone.
function paneShape(c) {
  const working = isWorking(c);
  return JSON.stringify([c.id, working, working && oversees() && view.agents.length > 0, working && canTransfer() && transferOptions(c).length > 0]);
}

// Builds the whole pane: on opening a conversation, or when the controls it needs changed.
function renderPane() {
  const c = view.open;
  const old = view.parts?.id === c.id ? view.parts.log : null;
  const before = old ? { scrollTop: old.scrollTop, scrollHeight: old.scrollHeight, clientHeight: old.clientHeight } : null;
  const working = isWorking(c);
  view.parts = {
    id: c.id, shape: paneShape(c), head: h('div', { class: 'ws-head-main' }),
    // A log to read, silent by itself: the workspace's live region announces customers' messages
    // (not the person's own sends, nor every redraw).
    log: h('div', { class: 'messages', 'data-testid': 'messages', role: 'log', 'aria-live': 'off', 'aria-label': t('workspace.messages'), tabindex: 0 }), refreshers: [],
  };
  replace(view.pane,
    h('header', { class: 'ws-head' }, view.parts.head, working ? actions(c) : null),
    view.parts.log,
    working ? composer(c, { sent }) : null);
  fillHead(c);
  fillLog(before ? 'follow' : 'bottom', before);
}

function sent(message) {
  if (view.open?.id !== message.conversation_id) return;
  view.messages = mergeMessages(view.messages, [message]);
  fillLog('bottom');
}

// A live update: the header, side panel and messages are redrawn; the composer, pickers and boxes
// keep what the person typed, ticked and chose (their options follow the agents' slots).
export function updatePane() {
  const c = view.open;
  if (!c) return;
  if (view.parts?.id !== c.id || view.parts.shape !== paneShape(c)) renderPane();
  else {
    // Parts whose content did not change are left as they are (a selection or a focused button
    // in them survives the panel's ticks).
    if (!shows(view.parts.head, headContent(c))) fillHead(c);
    if (!shows(view.parts.log, logContent())) fillLog('follow');
    for (const refresh of view.parts.refreshers) refresh();
  }
  updateSide(c);
}

const headContent = (c) => [c.contact, c.status, c.assignee, c.channel, c.group];
const logContent = () => [view.hasOlder, view.messages.map((m) => m.id)];

function fillHead(c) {
  const head = view.parts.head;
  stamp(head, headContent(c));
  const kind = c.channel?.kind ?? 'unknown';
  replace(head,
    h('button', { type: 'button', class: 'icon-button ws-back', 'data-ws-back': '', 'aria-label': t('workspace.back'), title: t('workspace.back'), onclick: backToList }, icon('back')),
    avatar(c.contact, 'lg'),
    h('div', { class: 'ws-head-who' },
      h('h2', {}, contactName(c.contact)),
      h('div', { class: 'ws-head-facts' },
        h('span', { class: 'ws-channel' }, channelIcon(kind, t(`workspace.channel_${kind}`)), ` ${c.channel?.name ?? ''}`),
        h('span', { class: `badge status-${c.status}`, 'data-testid': 'conversation-status' }, t(`status.${c.status}`)),
        h('span', { class: 'badge', 'data-testid': 'conversation-id', title: t('conversations.number', { id: c.id }) }, `#${c.id}`),
        c.assignee ? h('span', { class: 'muted' }, c.assignee.name) : null,
        c.group ? h('span', { class: 'muted' }, c.group.name) : null)),
    h('button', { type: 'button', class: 'icon-button ws-side-toggle', 'data-ws-side-toggle': '', 'aria-controls': 'ws-side', onclick: toggleSide }, icon('panel')));
  syncSideButtons();
}

// Redraws the messages. 'bottom' scrolls to the newest; 'follow' stays at the bottom only if the
// person was there (someone reading older messages is not yanked down); 'prepend' keeps the
// messages in view where they were when older ones are added above.
function fillLog(mode = 'follow', before = null) {
  const c = view.open;
  const log = view.parts.log;
  const { scrollTop, scrollHeight, clientHeight } = before ?? log;
  const atBottom = scrollHeight - scrollTop - clientHeight < 24;
  stamp(log, logContent());
  replace(log,
    view.hasOlder ? h('button', { type: 'button', class: 'link older', onclick: loadOlder }, t('conversations.older')) : null,
    view.messages.map((m) => h('div', { class: `bubble ${m.author.kind}${m.activity ? ' activity' : m.private ? ' note' : ''}`, 'data-message': m.id },
      h('span', { class: 'muted small' }, [authorName(m, c), m.private && !m.activity ? t('conversations.note') : '', formatTime(m.created_at, language())].filter(Boolean).join(' · ')),
      h('div', {}, messageText(m)))));
  if (mode === 'bottom' || (mode === 'follow' && atBottom)) log.scrollTop = log.scrollHeight;
  else if (mode === 'prepend') log.scrollTop = log.scrollHeight - (scrollHeight - scrollTop);
  else log.scrollTop = scrollTop;
}

// Agents with a free slot, and the groups a transfer would not refuse (activity.js).
function transferOptions(c) {
  return [
    ...view.agents.filter((a) => a.id !== session.me.id && a.id !== c.assignee?.id && a.available && a.online && a.load < a.capacity).map((a) => h('option', { value: `agent:${a.id}` }, `${a.name} (${a.load}/${a.capacity})`)),
    ...transferGroups(view.groups, view.agents, c, session.me.id).map((g) => h('option', { value: `group:${g.id}` }, `${t('conversations.group')}: ${g.name}`)),
  ];
}

// The actions of whoever works the conversation: transfer, assign (supervisors), finalize.
function actions(c) {
  const error = h('div', { class: 'error', role: 'alert' });
  const run = async (work) => {
    try {
      const done = await work();
      error.textContent = '';
      if (done?.id === c.id) showRow(done);
      await openConversation(c.id).catch(() => closePane());
      // Transferred or finalized, the pane lost the button that had the focus: the list has it.
      if (!view.root?.contains(document.activeElement)) focusList();
    } catch (err) {
      error.textContent = errorText(err);
    }
  };
  const finalize = h('button', { type: 'button', class: 'danger', 'data-ws-action': 'finalize', 'aria-keyshortcuts': 'e', onclick: () => finalizeAsked(c, run) }, t('conversations.finalize'));
  return h('div', { class: 'ws-actions' },
    h('div', { class: 'actions' }, transferBox(c, run), oversees() && view.agents.length ? assignBox(c, error) : null, finalize),
    error);
}

// Finalizing cannot be undone (a new message starts a new conversation): the button and the "e"
// key ask first, Cancel focused.
async function finalizeAsked(c, run) {
  const sure = await confirmDialog({
    title: t('conversations.finalize_title'), body: t('conversations.finalize_body', { name: contactName(c.contact) }),
    confirmLabel: t('conversations.finalize'), danger: true,
  });
  // Asked from a row that a live update redrew meanwhile, the focus has nowhere to go back to.
  if (!view.root?.contains(document.activeElement)) focusList();
  if (!sure) return;
  await run(() => post(`/conversations/${c.id}/finalize`, {}));
}

function transferBox(c, run) {
  const state = controlsOf(c.id);
  const target = h('select', { name: 'target', 'data-ws-transfer': '', 'aria-label': t('conversations.transfer_to'), 'aria-keyshortcuts': 't', onchange: () => (state.target = target.value) }, transferOptions(c));
  choose(target, state.target);
  view.parts.refreshers.push(() => fillSelect(target, transferOptions(c)));
  if (!canTransfer() || !target.options.length) return null;
  const transfer = () => run(() => {
    const [kind, id] = target.value.split(':');
    if (!id) throw new Error(t('conversations.no_target'));
    // Should it come straight back (a group only she serves), that is her own doing: no alert.
    claimed(c.id);
    return post(`/conversations/${c.id}/transfer`, kind === 'agent' ? { agent_id: Number(id) } : { group_id: Number(id) });
  });
  return h('span', { class: 'actions ws-transfer' }, target, h('button', { type: 'button', class: 'secondary', 'data-ws-action': 'transfer', onclick: transfer }, t('conversations.transfer')));
}

// Supervisors give a conversation to any agent; past a full slot only when they say so.
function assignBox(c, error) {
  const state = controlsOf(c.id);
  // Anyone may be given one; who is away or not accepting says so.
  const away = (a) => (!a.online ? ` · ${t('conversations.offline')}` : !a.available ? ` · ${t('conversations.unavailable')}` : '');
  const options = () => view.agents.filter((a) => a.id !== c.assignee?.id).map((a) => h('option', { value: a.id }, `${a.name} (${a.load}/${a.capacity})${away(a)}`));
  const agent = h('select', { 'data-ws-assign': '', 'aria-label': t('conversations.assign_to'), onchange: () => (state.agent = agent.value) }, options());
  choose(agent, state.agent);
  view.parts.refreshers.push(() => fillSelect(agent, options()));
  const force = h('input', { type: 'checkbox', onchange: () => (state.force = force.checked) });
  force.checked = state.force;
  const assign = async () => {
    try {
      const to = Number(agent.value);
      // Giving it to yourself is your own doing: no "assigned to you" alert for it.
      if (to === session.me.id) claimed(c.id);
      showRow(await post(`/conversations/${c.id}/assign`, { agent_id: to, force: force.checked }));
      error.textContent = '';
      await openConversation(c.id);
    } catch (err) {
      error.textContent = errorText(err);
    }
  };
  return h('span', { class: 'actions ws-assign' }, agent, h('label', { class: 'small' }, force, ' ', t('conversations.force')),
    h('button', { type: 'button', class: 'secondary', 'data-ws-action': 'assign', onclick: assign }, t('conversations.assign')));
}
