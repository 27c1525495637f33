// The agent's workspace (agents and supervisors), full height: a strip with the title, "accept new
// conversations", "take the next one", the live figures and (overseers) the agents table's button;
// below it three panes (layout.js): the waiting line and the conversation list (waiting.js,
// list.js), the open conversation (pane.js, composer.js) and the side panel about its customer
// (side.js). Everything updates from the staff WebSocket: each event is applied in place to the
// list, the waiting section and the open conversation (live.js), never redrawing what the person
// is typing, ticking or choosing; only a resync or a reconnect reads the lists again. Alerts
// (alerts.js) sound and notify on new customer messages and on conversations assigned to you; the
// page's one live region (announce.js) tells screen readers of them. Keyboard shortcuts: keys.js.
import { get, api } from '../api.js';
import { t } from '../i18n.js';
import { h, replace } from '../dom.js';
import { session, navigate, refreshMe } from '../app.js';
import { icon } from '../icons.js';
import { errorText, roles, oversees, canDispense } from './common.js';
import { waitingSection, refreshWaiting, applyWaiting, leftWaiting, takeNext as takeNextInLine } from './waiting.js';
import { rowsOf } from './live.js';
import { listBox, loadList, showRow, applyToList, syncFilters } from './list.js';
import { claiming, noticeAssignment, alertNewMessage } from './alerts.js';
import { agentsSection, loadAgents, applyAgentsChanged } from './agents.js';
import { paneBox, openConversation, openOrTell, refreshOpen, applyToOpen, updatePane, showAgents } from './pane.js';
import { sideBox } from './side.js';
import { workspace } from './layout.js';
import { liveRegion, announceEvent } from './announce.js';
import { shortcutsButton } from './keys.js';
import { view, resetView, isAgent, mounted, names } from './workspace.js';
import { toast } from '../ui.js';

let socket = null;

export async function conversationsView(main) {
  resetView(main);
  // Why live updates stopped, when the server refused this tab's socket (too many open).
  view.socketNotice = h('p', { class: 'error ws-socket-notice', role: 'alert', 'data-testid': 'socket-notice', hidden: true });
  // On a phone the figures scroll sideways: focusable and named, so a keyboard can scroll them.
  view.figures = h('div', { class: 'figures', 'data-testid': 'panel-figures', role: 'group', 'aria-label': t('panel.figures'), tabindex: 0 });
  const list = h('div', { class: 'ws-list-inner' },
    waitingSection({ open: openOrTell, taken: async (c) => { showRow(c); await openConversation(c.id); }, claim: claiming, groups: () => view.groups }),
    listBox({ open: openOrTell, current: () => view.open?.id }));
  const middle = [paneBox(), oversees() ? agentsSection() : null];
  const side = sideBox({ open: openOrTell, changed: contactChanged });
  replace(main, h('div', { class: 'ws-page' }, strip(), view.socketNotice, workspace({ list, main: middle, side, open: openOrTell }), liveRegion()));
  await Promise.all([loadList(), loadFigures(), loadAgents()]);
  connect();
  openFromHash();
  if ('Notification' in window && Notification.permission === 'default') Notification.requestPermission().catch(() => {});
}

// The strip above the panes: title, availability, take next, figures, the agents table's button.
function strip() {
  view.takeNext = h('button', { type: 'button', class: 'secondary', 'data-ws-action': 'take-next', onclick: takeNext }, t('conversations.take_next'));
  view.takeNext.hidden = !canDispense();
  view.agentsToggle = oversees()
    ? h('button', { type: 'button', class: 'secondary ws-agents-toggle', 'aria-pressed': 'false', 'aria-controls': 'ws-agents', onclick: () => showAgents(view.agentsBox.hidden) }, icon('agents'), ` ${t('conversations.agents')}`)
    : null;
  return h('div', { class: 'ws-strip' },
    h('h1', {}, t('conversations.title')),
    isAgent() ? availabilityToggle() : null,
    view.takeNext,
    view.figures,
    h('div', { class: 'ws-strip-end' }, view.agentsToggle, shortcutsButton()));
}

// Labels added or removed, or the contact edited: the open conversation again, and the list's
// names when the contact changed.
async function contactChanged({ contact = false }) {
  if (contact) await loadList().catch(() => null);
  await refreshOpen();
}

// The account's roles or permissions changed: what the page offers follows at once; what the
// person typed and chose stays. A page the new roles no longer allow is left.
async function accountChanged() {
  await refreshMe();
  if (!roles().some((role) => role !== 'orders_admin')) return navigate('/', { replace: true });
  view.takeNext.hidden = !canDispense();
  syncFilters();
  await Promise.all([refreshWaiting(), loadList(), loadAgents()]).catch(() => null);
  if (view.open) await refreshOpen().catch(() => null);
}

// A notice mail links to /conversations#conversation=N (and a reload keeps it): open that one.
function openFromHash() {
  const id = Number(location.hash.match(/^#conversation=(\d+)$/)?.[1]);
  if (id) openOrTell(id, { behind: true });
}

function availabilityToggle() {
  // The saved state is read once; should the person tick the box before it arrives, theirs stands.
  let touched = false;
  const box = h('input', { type: 'checkbox', id: 'accepting', onchange: async (event) => {
    touched = true;
    try {
      await api('PUT', '/me/availability', { available: event.target.checked });
    } catch (err) {
      event.target.checked = !event.target.checked;
      toast(errorText(err), { kind: 'error' });
    }
  } });
  get('/agents').then((agents) => {
    if (!touched) box.checked = Boolean(agents.find((a) => a.id === session.me.id)?.available);
  });
  return h('label', { class: 'toggle' }, box, ' ', t('conversations.accepting'));
}

async function loadFigures() {
  renderFigures(await get('/stats/panel'));
}

function renderFigures(p) {
  replace(view.figures,
    figure(t('panel.average_wait'), waitText(p.average_wait_ms)),
    figure(t('panel.max_wait'), waitText(p.max_wait_ms)),
    figure(t('panel.in_queue'), p.in_queue),
    figure(t('panel.agents_online'), p.agents_online),
    figure(t('panel.overflow'), p.overflow ?? 0));
}

// A wait as people read it: seconds under a minute ("45 s"), whole minutes after ("3 min").
export function waitText(ms) {
  const seconds = Math.round((ms ?? 0) / 1000);
  return seconds < 60 ? t('panel.seconds', { n: seconds }) : t('panel.minutes', { n: Math.round(seconds / 60) });
}

const figure = (label, value) => h('div', { class: 'figure' }, h('span', { class: 'muted small' }, label), h('strong', {}, String(value)));

async function takeNext() {
  const taken = await takeNextInLine();
  if (taken) {
    showRow(taken);
    await openConversation(taken.id);
  }
}

// Live work runs one event at a time, in the order the socket delivered them: a conversation read
// for one event is never overwritten by an older one.
let updates = Promise.resolve();
const live = (work) => (updates = updates.then(work).catch(() => null));

// One event applied to the list, the waiting section and the open conversation; a conversation
// read for a missing name is read once for all three.
function applyEvent(event) {
  const rows = rowsOf(event.conversation, names);
  return Promise.all([applyToList(rows), applyWaiting(rows), applyToOpen(event, rows)]);
}

// The socket fell behind, or (re)opened: every list once, and the open conversation.
async function reloadAll() {
  if (!mounted()) return;
  await Promise.all([loadList(), refreshWaiting(), view.open ? refreshOpen() : null]);
}

function connect() {
  if (socket) return;
  socket = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/api/v1/ws`);
  socket.onmessage = async (message) => {
    const event = JSON.parse(message.data);
    if (!mounted()) return;
    if (event.type === 'me.changed') return accountChanged();
    const assigned = event.type === 'conversation.assigned' || event.type === 'conversation.transferred' ? noticeAssignment(event.conversation) : false;
    if (event.type === 'message.created' && event.message.author.kind === 'customer' && event.conversation.assignee_id === session.me.id) alertNewMessage(event);
    if (event.type === 'resync') live(reloadAll);
    else if (event.type === 'queue.left') live(() => leftWaiting(event.conversation_id));
    // Announced once the list and the open conversation have it (a new row's name is known then).
    else if (event.conversation) live(async () => {
      await applyEvent(event);
      announceEvent(event, { assigned: await assigned });
    });
    if (event.type === 'stats.panel') {
      renderFigures(event.panel);
      // Groups come and go with no event of their own: the transfer picker's groups follow here.
      view.groups = await get('/groups').catch(() => view.groups);
      if (view.open) updatePane();
    }
    if (event.type === 'agents.changed') {
      // Loads and slots moved: the agents' rows, and the transfer and assign pickers with them.
      await applyAgentsChanged(event.agents).catch(() => null);
      if (view.open) updatePane();
    }
  };
  // Whatever happened before this socket opened (a conversation given the moment we came online,
  // what happened while it was down) is in fresh lists.
  socket.onopen = () => {
    if (view.socketNotice) view.socketNotice.hidden = true;
    live(reloadAll);
  };
  socket.onclose = (event) => {
    socket = null;
    // 4001: the sign-in ended (signed out, password changed, expired); 4003: the account was
    // deactivated. Reconnecting cannot help: sign in again.
    if (event.code === 4001 || event.code === 4003) {
      if (!session.me) return; // signed out from this page: the sign-out button navigates
      session.me = null;
      // The sign-in page says why (event.reason is a code the UI translates).
      sessionStorage.setItem('centralita.signed_out_reason', event.reason);
      navigate('/login', { replace: true });
      return;
    }
    // 4008: this user has too many live connections open; say so, and try again much later
    // (another tab may close) rather than knocking every 3 s.
    const tooMany = event.code === 4008;
    if (tooMany && view.socketNotice) {
      view.socketNotice.textContent = t('error.too_many_sockets');
      view.socketNotice.hidden = false;
    }
    setTimeout(() => {
      if (session.me) connect();
    }, tooMany ? 30_000 : 3000);
  };
}
