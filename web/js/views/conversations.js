// The conversations panel (agents and supervisors): live figures, "accept new conversations",
// the list with unread dots, the open conversation with older messages on demand, the composer
// (reply or internal note), transfer and finalize; a sound and a desktop notification on new
// customer messages. Everything updates from the staff WebSocket.
import { get, post, api } from '../api.js';
import { t, language } from '../i18n.js';
import { h, replace, formatTime } from '../dom.js';
import { session } from '../app.js';
import { errorText } from './common.js';
import { waitingSection, refreshWaiting, takeNext as takeNextInLine } from './waiting.js';
import { messageText, authorName, transferGroups } from './activity.js';

const roles = () => session.me.roles;
const oversees = () => roles().includes('admin') || roles().includes('supervisor');
const isAgent = () => roles().includes('agent');
const canWork = () => oversees() || isAgent();
const canTransfer = () => oversees() || session.me.permissions.includes('transfer');

let socket = null;
let view = null;

// For tests and for people: how many new-message alerts were raised.
window.centralitaAlerts = window.centralitaAlerts ?? 0;

export async function conversationsView(main) {
  view = { main, list: [], open: null, messages: [], agents: [], groups: [], drafts: new Map() };
  const figures = h('div', { class: 'figures', 'data-testid': 'panel-figures' });
  const toggle = isAgent() ? availabilityToggle() : null;
  const listBox = h('ul', { class: 'conv-list', 'aria-label': t('conversations.list') });
  const pane = h('section', { class: 'conv-pane', 'aria-live': 'polite' }, h('p', { class: 'muted empty' }, t('conversations.pick')));
  view.figures = figures;
  view.listBox = listBox;
  view.pane = pane;
  replace(
    main,
    h('div', { class: 'actions' }, h('h1', {}, t('conversations.title')), toggle, isAgent() && (oversees() || session.me.permissions.includes('dispenser')) ? h('button', { type: 'button', class: 'secondary', onclick: takeNext }, t('conversations.take_next')) : null),
    figures,
    waitingSection({ open: (id) => openConversation(id).catch((err) => alert(errorText(err))), taken: async (c) => { await loadList(); await openConversation(c.id); } }),
    h('div', { class: 'desk' }, h('aside', { class: 'card conv-side' }, listBox), h('div', { class: 'card conv-main' }, pane)),
    oversees() ? h('section', { class: 'card' }, h('h2', {}, t('conversations.agents')), h('div', { 'data-testid': 'agents-table' })) : null,
  );
  await Promise.all([loadList(), loadFigures(), loadAgents()]);
  connect();
  if ('Notification' in window && Notification.permission === 'default') Notification.requestPermission().catch(() => {});
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

async function loadList() {
  const query = oversees() || roles().includes('stakeholder') ? 'status=open&assignee=all' : 'status=open&assignee=me';
  view.list = await get(`/conversations?${query}`);
  renderList();
}

function renderList() {
  if (!view) return;
  const items = view.list.map((c) =>
    h('li', {},
      h('button', { type: 'button', class: `conv-item${view.open?.id === c.id ? ' current' : ''}`, 'data-conversation': c.id, onclick: () => openConversation(c.id) },
        c.unread ? h('span', { class: 'dot', 'aria-label': t('conversations.unread'), 'data-testid': 'unread-dot' }) : null,
        h('strong', {}, c.contact.name || `#${c.contact.id}`),
        h('span', { class: 'muted small' }, ` · ${c.channel?.name ?? ''} · ${t(`status.${c.status}`)}${c.assignee ? ` · ${c.assignee.name}` : ''}`),
        h('div', { class: 'preview' }, c.last_preview),
        h('div', { class: 'muted small' }, formatTime(c.last_message_at, language())))));
  replace(view.listBox, items.length ? items : h('li', { class: 'muted empty' }, t('conversations.empty')));
}

async function loadFigures() {
  renderFigures(await get('/stats/panel'));
}

function renderFigures(p) {
  const minutes = (ms) => `${Math.round(ms / 60000)} min`;
  replace(view.figures,
    figure(t('panel.average_wait'), minutes(p.average_wait_ms)),
    figure(t('panel.max_wait'), minutes(p.max_wait_ms)),
    figure(t('panel.in_queue'), p.in_queue),
    figure(t('panel.agents_online'), p.agents_online),
    figure(t('panel.overflow'), p.overflow ?? 0));
}

const figure = (label, value) => h('div', { class: 'figure' }, h('span', { class: 'muted small' }, label), h('strong', {}, String(value)));

async function loadAgents() {
  view.agents = await get('/agents');
  view.groups = await get('/groups').catch(() => []);
  const table = view.main.querySelector('[data-testid="agents-table"]');
  if (!table) return;
  replace(table, h('table', {},
    h('thead', {}, h('tr', {}, ['field.name', 'conversations.agent_status', 'conversations.load'].map((k) => h('th', {}, t(k))))),
    h('tbody', {}, view.agents.length ? view.agents.map((a) => h('tr', {}, h('td', {}, a.name), h('td', {}, `${a.online ? t('conversations.online') : t('conversations.offline')} · ${a.available ? t('conversations.available') : t('conversations.unavailable')}`), h('td', {}, `${a.load} / ${a.capacity}`, roles().includes('admin') ? agentSettings(a) : null))) : h('tr', {}, h('td', { colspan: 3, class: 'muted' }, t('conversations.no_agents'))))));
}

// Administrators set an agent's own cap and assignment mode right from the table.
function agentSettings(agent) {
  const cap = h('input', { type: 'number', min: 1, max: 100, value: agent.own_capacity ?? '', 'aria-label': t('conversations.own_capacity'), class: 'narrow-input' });
  const mode = h('select', { 'aria-label': t('conversations.mode') }, ['automatic', 'manual', 'none'].map((m) => h('option', { value: m }, t(`conversations.mode_${m}`))));
  mode.value = agent.mode;
  const save = async () => {
    try {
      await api('PATCH', `/agents/${agent.id}`, { capacity: cap.value ? Number(cap.value) : null, mode: mode.value });
      await loadAgents();
    } catch (err) {
      alert(errorText(err));
    }
  };
  return h('div', { class: 'actions small' }, cap, mode, h('button', { type: 'button', class: 'secondary', onclick: save }, t('common.save')));
}

async function openConversation(id) {
  const conversation = await get(`/conversations/${id}`);
  view.open = conversation;
  view.messages = await get(`/conversations/${id}/messages`);
  renderPane();
  renderList();
  if (conversation.unread && conversation.assignee?.id === session.me.id) {
    await post(`/conversations/${id}/read`).catch(() => null);
    const item = view.list.find((c) => c.id === id);
    if (item) item.unread = false;
    renderList();
  }
}

async function loadOlder() {
  const oldest = view.messages[0];
  if (!oldest) return;
  const older = await get(`/conversations/${view.open.id}/messages?before=${oldest.id}`);
  view.messages = [...older, ...view.messages];
  renderPane({ keepScroll: true, added: older.length });
}

function renderPane({ keepScroll = false } = {}) {
  const c = view.open;
  const log = h('div', { class: 'messages', 'data-testid': 'messages', role: 'log' },
    view.messages.length >= 20 ? h('button', { type: 'button', class: 'link', onclick: loadOlder }, t('conversations.older')) : null,
    view.messages.map((m) => h('div', { class: `bubble ${m.author.kind}${m.activity ? ' activity' : m.private ? ' note' : ''}` },
      h('span', { class: 'muted small' }, `${authorName(m, c)}${m.private && !m.activity ? ` · ${t('conversations.note')}` : ''} · ${formatTime(m.created_at, language())}`),
      h('div', {}, messageText(m)))));
  const mine = c.assignee?.id === session.me.id;
  const working = canWork() && c.status !== 'finalized' && (mine || oversees());
  replace(view.pane,
    h('div', { class: 'actions' },
      h('h2', {}, c.contact.name || `#${c.contact.id}`),
      h('span', { class: 'muted small' }, `${c.channel?.name ?? ''} · ${t(`status.${c.status}`)}${c.assignee ? ` · ${c.assignee.name}` : ''}`),
      oversees() ? h('button', { type: 'button', class: 'link', onclick: () => editContact(c) }, t('conversations.edit_contact')) : null,
      c.previous ? h('button', { type: 'button', class: 'link', onclick: () => openConversation(c.previous).catch((err) => alert(errorText(err))) }, t('conversations.previous')) : null),
    h('div', { class: 'contact-editor' }),
    labels(c, working),
    log,
    working ? composer(c) : null,
    working && oversees() && view.agents.length ? assignBox(c) : null,
    working ? actions(c) : null);
  if (!keepScroll) log.scrollTop = log.scrollHeight;
}

function composer(c) {
  // The pane is redrawn when events arrive; the draft and the focus survive it.
  const hadFocus = view.pane.querySelector('textarea') === document.activeElement;
  const text = h('textarea', { name: 'text', rows: 3, 'aria-label': t('conversations.write'), oninput: (e) => view.drafts.set(c.id, e.target.value) });
  text.value = view.drafts.get(c.id) ?? '';
  if (hadFocus) queueMicrotask(() => text.focus());
  const note = h('input', { type: 'checkbox', name: 'private' });
  const error = h('div', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'composer' }, text, h('div', { class: 'actions' }, h('label', {}, note, ' ', t('conversations.as_note')), h('button', { type: 'submit' }, t('conversations.send'))), error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!text.value.trim()) return;
    try {
      const message = await post(`/conversations/${c.id}/messages`, { text: text.value, private: note.checked });
      text.value = '';
      view.drafts.delete(c.id);
      error.textContent = '';
      if (!view.messages.some((m) => m.id === message.id)) view.messages.push(message);
      renderPane();
    } catch (err) {
      error.textContent = errorText(err);
    }
  });
  text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  return form;
}

function actions(c) {
  const error = h('div', { class: 'error', role: 'alert' });
  const run = async (work) => {
    try {
      await work();
      error.textContent = '';
      await loadList();
      await openConversation(c.id).catch(() => replace(view.pane, h('p', { class: 'muted empty' }, t('conversations.pick'))));
    } catch (err) {
      error.textContent = errorText(err);
    }
  };
  const target = h('select', { name: 'target', 'aria-label': t('conversations.transfer_to') },
    view.agents.filter((a) => a.id !== session.me.id && a.available && a.online && a.load < a.capacity).map((a) => h('option', { value: `agent:${a.id}` }, `${a.name} (${a.load}/${a.capacity})`)),
    transferGroups(view.groups, view.agents, c, session.me.id).map((g) => h('option', { value: `group:${g.id}` }, `${t('conversations.group')}: ${g.name}`)));
  const transfer = canTransfer() && target.options.length ? h('div', { class: 'actions' }, target, h('button', { type: 'button', class: 'secondary', onclick: () => run(() => {
    const [kind, id] = target.value.split(':');
    if (!id) throw Object.assign(new Error(t('conversations.no_target')), {});
    return post(`/conversations/${c.id}/transfer`, kind === 'agent' ? { agent_id: Number(id) } : { group_id: Number(id) });
  }) }, t('conversations.transfer'))) : null;
  const finalize = h('button', { type: 'button', class: 'danger', onclick: () => run(() => post(`/conversations/${c.id}/finalize`, {})) }, t('conversations.finalize'));
  return h('div', { class: 'conv-actions' }, h('div', { class: 'actions' }, transfer, finalize), error);
}

// Labels: shown to all staff; added and removed by whoever works the conversation.
function labels(c, working) {
  const remove = (label) => api('DELETE', `/conversations/${c.id}/labels`, { label }).then(() => openConversation(c.id)).catch((err) => alert(errorText(err)));
  const chips = c.labels.map((label) => h('span', { class: 'badge label' }, label, working ? h('button', { type: 'button', class: 'link', 'aria-label': `${t('conversations.remove_label')} ${label}`, onclick: () => remove(label) }, ' ×') : null));
  if (!working) return chips.length ? h('div', { class: 'actions' }, chips) : null;
  const input = h('input', { type: 'text', maxlength: 40, placeholder: t('conversations.add_label'), 'aria-label': t('conversations.add_label'), class: 'narrow-input' });
  const form = h('form', { class: 'actions' }, chips, input, h('button', { type: 'submit', class: 'secondary' }, '+'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    try {
      await post(`/conversations/${c.id}/labels`, { label: input.value });
      await openConversation(c.id);
    } catch (err) {
      alert(errorText(err));
    }
  });
  return form;
}

// Supervisors give a conversation to any agent; past a full slot only when they say so.
function assignBox(c) {
  const agent = h('select', { 'aria-label': t('conversations.assign_to') }, view.agents.map((a) => h('option', { value: a.id }, `${a.name} (${a.load}/${a.capacity})`)));
  const force = h('input', { type: 'checkbox' });
  const error = h('div', { class: 'error', role: 'alert' });
  const assign = async () => {
    try {
      await post(`/conversations/${c.id}/assign`, { agent_id: Number(agent.value), force: force.checked });
      error.textContent = '';
      await loadList();
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
    await loadList();
    await openConversation(taken.id);
  }
}

function alertNewMessage(event) {
  window.centralitaAlerts += 1;
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    tone.frequency.value = 880;
    tone.connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.15);
  } catch {
    // No sound without a user gesture on some browsers; the notification still shows.
  }
  if ('Notification' in window && Notification.permission === 'granted') {
    new Notification(t('conversations.new_message'), { body: event.message.text.slice(0, 120), tag: `conversation-${event.conversation.id}` });
  }
}

function connect() {
  if (socket) return;
  socket = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/api/v1/ws`);
  socket.onmessage = async (message) => {
    const event = JSON.parse(message.data);
    if (!view || !document.body.contains(view.main.firstChild)) return;
    if (event.type.startsWith('conversation.') || event.type === 'queue.changed' || event.type === 'resync' || event.conversation?.status === 'queued') refreshWaiting().catch(() => null);
    if (event.type === 'message.created') {
      if (event.message.author.kind === 'customer' && event.conversation.assignee_id === session.me.id) alertNewMessage(event);
      if (view.open?.id === event.conversation.id && !view.messages.some((m) => m.id === event.message.id)) {
        view.messages = await get(`/conversations/${view.open.id}/messages`);
        renderPane();
        if (event.message.author.kind === 'customer') post(`/conversations/${view.open.id}/read`).catch(() => null);
      }
      await loadList();
    } else if (event.type.startsWith('conversation.') || event.type === 'resync') {
      await loadList();
      if (view.open?.id === event.conversation?.id) openConversation(view.open.id).catch(() => null);
    }
    if (event.type === 'stats.panel') {
      renderFigures(event.panel);
      // Loads and slots moved: refresh the agents, and the transfer and assign pickers with them.
      await loadAgents().catch(() => null);
      if (view.open) renderPane({ keepScroll: true });
    }
  };
  // Whatever happened before this socket opened (a conversation given the moment we came online)
  // is in a fresh list.
  socket.onopen = () => loadList().catch(() => null);
  socket.onclose = () => {
    socket = null;
    setTimeout(() => {
      if (session.me) connect();
    }, 3000);
  };
}
