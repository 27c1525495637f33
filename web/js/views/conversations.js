// The conversations panel (agents and supervisors): live figures, "accept new conversations",
// the list with unread dots, the open conversation with older messages on demand, the composer
// (reply or internal note), transfer and finalize; a sound and a desktop notification on new
// customer messages and on conversations assigned to you. Everything updates from the staff
// WebSocket: each event is applied in place to the list, the waiting section and the open
// conversation (live.js), never redrawing what the person is typing, ticking or choosing; only a
// resync or a reconnect reads the lists again.
import { get, post, api } from '../api.js';
import { t, language } from '../i18n.js';
import { h, replace, formatTime } from '../dom.js';
import { session, navigate, refreshMe } from '../app.js';
import { errorText, roles, oversees, canDispense } from './common.js';
import { waitingSection, refreshWaiting, applyWaiting, leftWaiting, takeNext as takeNextInLine } from './waiting.js';
import { rowsOf, messageOf } from './live.js';
import { listBox as conversationList, loadList, showRow, applyToList, markRowRead, renderList } from './list.js';
import { messageText, authorName, transferGroups } from './activity.js';

const isAgent = () => roles().includes('agent');
const canWork = () => oversees() || isAgent();
const canTransfer = () => oversees() || session.me.permissions.includes('transfer');

let socket = null;
let view = null;

// Messages come in pages of this many (the "older messages" button asks for the next one).
const PAGE = 20;


// For tests and for people: how many alerts (new message, assigned to you) were raised.
window.centralitaAlerts = window.centralitaAlerts ?? 0;

export async function conversationsView(main) {
  // drafts and controls: per conversation, what the person typed and chose, kept across redraws.
  view = { main, open: null, messages: [], hasOlder: false, agents: [], groups: [], drafts: new Map(), controls: new Map(), parts: null };
  const figures = h('div', { class: 'figures', 'data-testid': 'panel-figures' });
  const toggle = isAgent() ? availabilityToggle() : null;
  const listBox = conversationList({ open: (id) => openConversation(id), current: () => view?.open?.id });
  const pane = h('section', { class: 'conv-pane', 'aria-live': 'polite' }, h('p', { class: 'muted empty' }, t('conversations.pick')));
  // Why live updates stopped, when the server refused this tab's socket (too many open).
  const socketNotice = h('p', { class: 'error', role: 'alert', 'data-testid': 'socket-notice' });
  socketNotice.hidden = true;
  view.socketNotice = socketNotice;
  view.figures = figures;
  view.pane = pane;
  replace(
    main,
    h('div', { class: 'actions' }, h('h1', {}, t('conversations.title')), toggle, takeNextButton()),
    socketNotice,
    figures,
    waitingSection({ open: (id) => openConversation(id).catch((err) => alert(errorText(err))), taken: async (c) => { showRow(c); await openConversation(c.id); }, claim: claiming, groups: () => view.groups }),
    h('div', { class: 'desk' }, h('aside', { class: 'card conv-side' }, listBox), h('div', { class: 'card conv-main' }, pane)),
    oversees() ? h('section', { class: 'card' }, h('h2', {}, t('conversations.agents')), h('div', { 'data-testid': 'agents-table' })) : null,
  );
  await Promise.all([loadList(), loadFigures(), loadAgents()]);
  connect();
  openFromHash();
  if ('Notification' in window && Notification.permission === 'default') Notification.requestPermission().catch(() => {});
}

// Shown while the person may take conversations themselves (follows a change of permissions).
function takeNextButton() {
  view.takeNext = h('button', { type: 'button', class: 'secondary', onclick: takeNext }, t('conversations.take_next'));
  view.takeNext.hidden = !canDispense();
  return view.takeNext;
}

// The account's roles or permissions changed: what the page offers follows at once; what the
// person typed and chose stays. A page the new roles no longer allow is left.
async function accountChanged() {
  await refreshMe();
  if (!roles().some((role) => role !== 'orders_admin')) return navigate('/', { replace: true });
  view.takeNext.hidden = !canDispense();
  await Promise.all([refreshWaiting(), loadList(), loadAgents()]).catch(() => null);
  if (view.open) await refreshOpen().catch(() => null);
}

// A notice mail links to /conversations#conversation=N: open that one.
function openFromHash() {
  const id = Number(location.hash.match(/^#conversation=(\d+)$/)?.[1]);
  if (id) openConversation(id).catch((err) => alert(errorText(err)));
}

function availabilityToggle() {
  const box = h('input', { type: 'checkbox', id: 'accepting', onchange: async (event) => {
    try {
      await api('PUT', '/me/availability', { available: event.target.checked });
    } catch (err) {
      event.target.checked = !event.target.checked;
      alert(errorText(err));
    }
  } });
  get('/agents').then((agents) => {
    box.checked = Boolean(agents.find((a) => a.id === session.me.id)?.available);
  });
  return h('label', { class: 'toggle' }, box, ' ', t('conversations.accepting'));
}

// The names a live event lacks, from what the page knows (undefined when it does not).
const names = {
  user: (id) => (id === session.me.id ? `${session.me.first_name} ${session.me.last_name}`.trim() : view.agents.find((a) => a.id === id)?.name),
  group: (id) => view.groups.find((g) => g.id === id)?.name,
};

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

async function loadAgents() {
  view.agents = await get('/agents');
  view.groups = await get('/groups').catch(() => []);
  renderAgents();
}

// `agents.changed`: the agents whose load, slots, status, mode or groups moved, applied to the
// rows in place.
// One not listed yet (just made an agent) means reading the list again, for their name.
async function applyAgentsChanged(changed) {
  if (changed.some((c) => !view.agents.some((a) => a.id === c.id))) return loadAgents();
  view.agents = view.agents.map((a) => ({ ...a, ...changed.find((c) => c.id === a.id) }));
  renderAgents();
}

function renderAgents() {
  const table = view.main.querySelector('[data-testid="agents-table"]');
  // Redrawn only when a figure in it changed: the panel ticks every second while things move.
  const shown = JSON.stringify(view.agents);
  if (!table || table.dataset.shown === shown) return;
  table.dataset.shown = shown;
  replace(table, h('table', {},
    h('thead', {}, h('tr', {}, ['field.name', 'conversations.agent_status', 'conversations.load'].map((k) => h('th', {}, t(k))))),
    h('tbody', {}, view.agents.length ? view.agents.map((a) => h('tr', {}, h('td', {}, a.name), h('td', {}, `${a.online ? t('conversations.online') : t('conversations.offline')} · ${a.available ? t('conversations.available') : t('conversations.unavailable')}`), h('td', {}, `${a.load} / ${a.capacity}`, roles().includes('admin') ? agentSettings(a) : null))) : h('tr', {}, h('td', { colspan: 3, class: 'muted' }, t('conversations.no_agents'))))));
}

// Administrators set an agent's own cap and assignment mode right from the table; what they
// changed and not yet saved outlives a redraw of the table.
const agentEdits = new Map();

function agentSettings(agent) {
  const edit = agentEdits.get(agent.id) ?? {};
  const remember = () => agentEdits.set(agent.id, { cap: cap.value, mode: mode.value });
  const cap = h('input', { type: 'number', min: 1, max: 100, value: edit.cap ?? agent.own_capacity ?? '', 'aria-label': t('conversations.own_capacity'), class: 'narrow-input', oninput: remember });
  const mode = h('select', { 'aria-label': t('conversations.mode'), onchange: remember }, ['automatic', 'manual', 'none'].map((m) => h('option', { value: m }, t(`conversations.mode_${m}`))));
  mode.value = edit.mode ?? agent.mode;
  const save = async () => {
    try {
      await api('PATCH', `/agents/${agent.id}`, { capacity: cap.value ? Number(cap.value) : null, mode: mode.value });
      agentEdits.delete(agent.id);
      await loadAgents();
    } catch (err) {
      alert(errorText(err));
    }
  };
  return h('div', { class: 'actions small' }, cap, mode, h('button', { type: 'button', class: 'secondary', onclick: save }, t('common.save')));
}

async function openConversation(id) {
  if (view.open?.id === id) return refreshOpen();
  const [conversation, messages] = await Promise.all([get(`/conversations/${id}`), get(`/conversations/${id}/messages?limit=${PAGE}`)]);
  view.open = conversation;
  view.messages = messages;
  view.hasOlder = messages.length === PAGE;
  renderPane();
  renderList();
  await markRead(conversation);
}

// The open conversation again, after a live event or an action: its newest messages join the ones
// shown (older pages the person loaded stay) and only what changed is redrawn.
async function refreshOpen() {
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
async function applyToOpen(event, rows) {
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

const isWorking = (c) => canWork() && c.status !== 'finalized' && (c.assignee?.id === session.me.id || oversees());

// What the person has typed, ticked and chosen in a conversation's controls.
function controlsOf(id) {
  if (!view.controls.has(id)) view.controls.set(id, { note: false, target: '', agent: '', force: false, label: '' });
  return view.controls.get(id);
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
  view.parts = { id: c.id, shape: paneShape(c), head: h('div', { class: 'actions' }), chips: h('span', { class: 'actions' }), log: h('div', { class: 'messages', 'data-testid': 'messages', role: 'log' }), refreshers: [] };
  replace(view.pane,
    view.parts.head,
    h('div', { class: 'contact-editor' }),
    labels(c, working),
    view.parts.log,
    working ? composer(c) : null,
    working && oversees() && view.agents.length ? assignBox(c) : null,
    working ? actions(c) : null);
  fillHead(c);
  fillChips(c, working);
  fillLog(before ? 'follow' : 'bottom', before);
}

// A live update: the header, labels and messages are redrawn; the composer, pickers and boxes
// keep what the person typed, ticked and chose (their options follow the agents' slots).
function updatePane() {
  const c = view.open;
  if (!c) return;
  if (view.parts?.id !== c.id || view.parts.shape !== paneShape(c)) return renderPane();
  // Parts whose content did not change are left as they are (a selection or a focused button
  // in them survives the panel's ticks).
  if (!shows(view.parts.head, headContent(c))) fillHead(c);
  if (!shows(view.parts.chips, c.labels)) fillChips(c, isWorking(c));
  if (!shows(view.parts.log, logContent())) fillLog('follow');
  for (const refresh of view.parts.refreshers) refresh();
}

// What a part was last drawn from, stamped on it, so an update can tell whether it changed.
const stamp = (node, content) => (node.dataset.shown = JSON.stringify(content));
const shows = (node, content) => node.dataset.shown === JSON.stringify(content);
const headContent = (c) => [c.contact, c.status, c.assignee, c.channel, c.previous];
const logContent = () => [view.hasOlder, view.messages.map((m) => m.id)];

function fillHead(c) {
  stamp(view.parts.head, headContent(c));
  replace(view.parts.head,
    h('h2', {}, c.contact.name || `#${c.contact.id}`),
    h('span', { class: 'badge', 'data-testid': 'conversation-id', title: t('conversations.number', { id: c.id }) }, `#${c.id}`),
    h('span', { class: 'muted small' }, `${c.channel?.name ?? ''} · ${t(`status.${c.status}`)}${c.assignee ? ` · ${c.assignee.name}` : ''}`),
    oversees() ? h('button', { type: 'button', class: 'link', onclick: () => editContact(c) }, t('conversations.edit_contact')) : null,
    c.previous ? h('button', { type: 'button', class: 'link', onclick: () => openConversation(c.previous).catch((err) => alert(errorText(err))) }, t('conversations.previous')) : null);
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
    view.hasOlder ? h('button', { type: 'button', class: 'link', onclick: loadOlder }, t('conversations.older')) : null,
    view.messages.map((m) => h('div', { class: `bubble ${m.author.kind}${m.activity ? ' activity' : m.private ? ' note' : ''}`, 'data-message': m.id },
      h('span', { class: 'muted small' }, [authorName(m, c), m.private && !m.activity ? t('conversations.note') : '', formatTime(m.created_at, language())].filter(Boolean).join(' · ')),
      h('div', {}, messageText(m)))));
  if (mode === 'bottom' || (mode === 'follow' && atBottom)) log.scrollTop = log.scrollHeight;
  else if (mode === 'prepend') log.scrollTop = log.scrollHeight - (scrollHeight - scrollTop);
  else log.scrollTop = scrollTop;
}

function composer(c) {
  const state = controlsOf(c.id);
  // Rebuilt only when the pane's controls change; the draft, the mode and the focus survive it.
  const hadFocus = view.pane.querySelector('.composer textarea') === document.activeElement;
  const text = h('textarea', { name: 'text', rows: 3, 'aria-label': t('conversations.write'), oninput: (e) => view.drafts.set(c.id, e.target.value) });
  text.value = view.drafts.get(c.id) ?? '';
  if (hadFocus) queueMicrotask(() => text.focus());
  const note = h('input', { type: 'checkbox', name: 'private' });
  note.checked = state.note;
  const send = h('button', { type: 'submit' });
  const error = h('div', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'composer' }, text, h('div', { class: 'actions' }, h('label', { class: 'note-toggle' }, note, ' ', t('conversations.as_note')), send), error);
  // Note mode cannot be missed: the composer turns the notes' colour and the button says so.
  const showMode = () => {
    form.classList.toggle('note-mode', note.checked);
    send.textContent = note.checked ? t('conversations.send_note') : t('conversations.send');
    text.placeholder = note.checked ? t('conversations.note_placeholder') : '';
  };
  note.addEventListener('change', () => {
    state.note = note.checked;
    showMode();
  });
  showMode();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!text.value.trim()) return;
    try {
      const message = await post(`/conversations/${c.id}/messages`, { text: text.value, private: note.checked });
      text.value = '';
      view.drafts.delete(c.id);
      error.textContent = '';
      if (view.open?.id !== c.id) return;
      view.messages = mergeMessages(view.messages, [message]);
      fillLog('bottom');
    } catch (err) {
      error.textContent = errorText(err);
    }
  });
  text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  return form;
}

// Replaces a picker's options and keeps the person's choice while it is still offered.
function fillSelect(select, options) {
  const chosen = select.value;
  replace(select, options);
  choose(select, chosen);
}

function choose(select, value) {
  if (value && [...select.options].some((o) => o.value === value)) select.value = value;
}

// Agents with a free slot, and the groups a transfer would not refuse (activity.js).
function transferOptions(c) {
  return [
    ...view.agents.filter((a) => a.id !== session.me.id && a.id !== c.assignee?.id && a.available && a.online && a.load < a.capacity).map((a) => h('option', { value: `agent:${a.id}` }, `${a.name} (${a.load}/${a.capacity})`)),
    ...transferGroups(view.groups, view.agents, c, session.me.id).map((g) => h('option', { value: `group:${g.id}` }, `${t('conversations.group')}: ${g.name}`)),
  ];
}

function actions(c) {
  const state = controlsOf(c.id);
  const error = h('div', { class: 'error', role: 'alert' });
  const run = async (work) => {
    try {
      const done = await work();
      error.textContent = '';
      if (done?.id === c.id) showRow(done);
      await openConversation(c.id).catch(() => replace(view.pane, h('p', { class: 'muted empty' }, t('conversations.pick'))));
    } catch (err) {
      error.textContent = errorText(err);
    }
  };
  const target = h('select', { name: 'target', 'aria-label': t('conversations.transfer_to'), onchange: () => (state.target = target.value) }, transferOptions(c));
  choose(target, state.target);
  view.parts.refreshers.push(() => fillSelect(target, transferOptions(c)));
  const transfer = canTransfer() && target.options.length ? h('div', { class: 'actions' }, target, h('button', { type: 'button', class: 'secondary', onclick: () => run(() => {
    const [kind, id] = target.value.split(':');
    if (!id) throw Object.assign(new Error(t('conversations.no_target')), {});
    // Should it come straight back (a group only she serves), that is her own doing: no alert.
    claimed(c.id);
    return post(`/conversations/${c.id}/transfer`, kind === 'agent' ? { agent_id: Number(id) } : { group_id: Number(id) });
  }) }, t('conversations.transfer'))) : null;
  const finalize = h('button', { type: 'button', class: 'danger', onclick: () => run(() => post(`/conversations/${c.id}/finalize`, {})) }, t('conversations.finalize'));
  return h('div', { class: 'conv-actions' }, h('div', { class: 'actions' }, transfer, finalize), error);
}

// Labels: shown to all staff; added and removed by whoever works the conversation.
function labels(c, working) {
  if (!working) return h('div', { class: 'actions' }, view.parts.chips);
  const state = controlsOf(c.id);
  const input = h('input', { type: 'text', maxlength: 40, placeholder: t('conversations.add_label'), 'aria-label': t('conversations.add_label'), class: 'narrow-input', oninput: () => (state.label = input.value) });
  input.value = state.label;
  const form = h('form', { class: 'actions' }, view.parts.chips, input, h('button', { type: 'submit', class: 'secondary' }, '+'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    try {
      await post(`/conversations/${c.id}/labels`, { label: input.value });
      input.value = '';
      state.label = '';
      await openConversation(c.id);
    } catch (err) {
      alert(errorText(err));
    }
  });
  return form;
}

function fillChips(c, working) {
  const remove = (label) => api('DELETE', `/conversations/${c.id}/labels`, { label }).then(() => openConversation(c.id)).catch((err) => alert(errorText(err)));
  stamp(view.parts.chips, c.labels);
  replace(view.parts.chips, c.labels.map((label) => h('span', { class: 'badge label' }, label, working ? h('button', { type: 'button', class: 'link', 'aria-label': `${t('conversations.remove_label')} ${label}`, onclick: () => remove(label) }, ' ×') : null)));
}

// Supervisors give a conversation to any agent; past a full slot only when they say so.
function assignBox(c) {
  const state = controlsOf(c.id);
  // Anyone may be given one; who is away or not accepting says so.
  const away = (a) => (!a.online ? ` · ${t('conversations.offline')}` : !a.available ? ` · ${t('conversations.unavailable')}` : '');
  const options = () => view.agents.filter((a) => a.id !== c.assignee?.id).map((a) => h('option', { value: a.id }, `${a.name} (${a.load}/${a.capacity})${away(a)}`));
  const agent = h('select', { 'aria-label': t('conversations.assign_to'), onchange: () => (state.agent = agent.value) }, options());
  choose(agent, state.agent);
  view.parts.refreshers.push(() => fillSelect(agent, options()));
  const force = h('input', { type: 'checkbox', onchange: () => (state.force = force.checked) });
  force.checked = state.force;
  const error = h('div', { class: 'error', role: 'alert' });
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
  return h('div', { class: 'conv-actions' }, h('div', { class: 'actions' }, agent, h('label', {}, force, ' ', t('conversations.force')), h('button', { type: 'button', class: 'secondary', onclick: assign }, t('conversations.assign'))), error);
}

async function editContact(c) {
  const contact = await get(`/contacts/${c.contact.id}`);
  const input = (name, value) => h('input', { type: 'text', name, value: value ?? '' });
  const fields = { name: input('name', contact.name), email: input('email', contact.email), phone: input('phone', contact.phone) };
  const notes = h('textarea', { name: 'notes', rows: 2 });
  notes.value = contact.notes ?? '';
  const error = h('div', { class: 'error form-error', role: 'alert' });
  const form = h('form', { class: 'card', novalidate: true },
    Object.entries(fields).map(([name, el]) => h('div', { class: 'field', 'data-field': name }, h('label', {}, t(`contact.${name}`), el), h('div', { class: 'error' }))),
    h('div', { class: 'field' }, h('label', {}, t('contact.notes'), notes)), error,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('common.save')), h('button', { type: 'button', class: 'secondary', onclick: () => form.remove() }, t('common.cancel'))));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api('PATCH', `/contacts/${c.contact.id}`, { name: fields.name.value, email: fields.email.value, phone: fields.phone.value, notes: notes.value });
      form.remove();
      await loadList();
      await openConversation(c.id);
    } catch (err) {
      error.textContent = errorText(err);
    }
  });
  replace(view.pane.querySelector('.contact-editor'), form);
}

async function takeNext() {
  const taken = await takeNextInLine();
  if (taken) {
    showRow(taken);
    await openConversation(taken.id);
  }
}

// Conversations known to be assigned to this person (so one assignment alerts once, though it
// comes as conversation.assigned and conversation.transferred), when each was noticed, and those
// the person gave themselves (take next, assign to self), which do not alert.
const mine = new Set();
const noticedAt = new Map();
const ownClaims = new Set();
let pendingClaim = null;

// A click that takes a conversation (take, take next): its own assignment event, which may arrive
// before the answer, raises no alert.
function claiming(request) {
  const taking = request.then((taken) => {
    if (taken) claimed(taken.id);
    return taken;
  });
  pendingClaim = taking.catch(() => null);
  taking.finally(() => (pendingClaim = null)).catch(() => null);
  return taking;
}

function claimed(id) {
  ownClaims.add(id);
  setTimeout(() => ownClaims.delete(id), 10_000);
}

async function noticeAssignment(conversation) {
  if (conversation.assignee_id !== session.me.id) {
    mine.delete(conversation.id);
    return;
  }
  if (mine.has(conversation.id)) return;
  mine.add(conversation.id);
  // A new conversation routed here brings its first message right after: one alert for both.
  noticedAt.set(conversation.id, Date.now());
  if (pendingClaim) await pendingClaim;
  if (ownClaims.has(conversation.id)) return;
  raiseAlert(t('conversations.assigned_to_you'), conversation.last_preview ?? '', conversation.id);
}

function alertNewMessage(event) {
  if (Date.now() - (noticedAt.get(event.conversation.id) ?? 0) < 3000) return;
  raiseAlert(t('conversations.new_message'), event.message.text, event.conversation.id);
}

// One audio context for every tone. Browsers let a page sound only after the person interacted
// with it, so the first click or key unlocks it; from then on tones play with the tab behind too.
let audio = null;
const unlockSound = () => {
  try {
    audio ??= new AudioContext();
    audio.resume().catch(() => {});
  } catch {
    // No Web Audio here: alerts still count and notify.
  }
};
document.addEventListener('pointerdown', unlockSound, { once: true });
document.addEventListener('keydown', unlockSound, { once: true });

// A short tone and a desktop notification, with the tab in front or behind.
function raiseAlert(title, body, conversationId) {
  window.centralitaAlerts += 1;
  try {
    audio ??= new AudioContext();
    if (audio.state === 'suspended') audio.resume().catch(() => {});
    const tone = audio.createOscillator();
    tone.frequency.value = 880;
    tone.connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.15);
  } catch {
    // No sound without a user gesture on some browsers; the notification still shows.
  }
  if ('Notification' in window && Notification.permission === 'granted') {
    new Notification(title, { body: body.slice(0, 120), tag: `conversation-${conversationId}` });
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
  if (!view) return;
  await Promise.all([loadList(), refreshWaiting(), view.open ? refreshOpen() : null]);
}

function connect() {
  if (socket) return;
  socket = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/api/v1/ws`);
  socket.onmessage = async (message) => {
    const event = JSON.parse(message.data);
    if (!view || !document.body.contains(view.main.firstChild)) return;
    if (event.type === 'me.changed') return accountChanged();
    if (event.type === 'conversation.assigned' || event.type === 'conversation.transferred') noticeAssignment(event.conversation);
    if (event.type === 'message.created' && event.message.author.kind === 'customer' && event.conversation.assignee_id === session.me.id) alertNewMessage(event);
    if (event.type === 'resync') live(reloadAll);
    else if (event.type === 'queue.left') live(() => leftWaiting(event.conversation_id));
    else if (event.conversation) live(() => applyEvent(event));
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
    if (view?.socketNotice) view.socketNotice.hidden = true;
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
    if (tooMany && view?.socketNotice) {
      view.socketNotice.textContent = t('error.too_many_sockets');
      view.socketNotice.hidden = false;
    }
    setTimeout(() => {
      if (session.me) connect();
    }, tooMany ? 30_000 : 3000);
  };
}
