// The workspace's side panel, about the open conversation's customer: the contact's details (and
// their edit, for supervisors and administrators: PATCH /contacts/{id}), the contact's other
// conversations (GET /contacts/{id}/conversations, newest first, only what this person may see),
// the conversation's labels, and the slots later issues fill (orders, attachments).
import { get, getPage, post, api } from '../api.js';
import { t, language } from '../i18n.js';
import { h, replace, field, showError, formatTime } from '../dom.js';
import { channelIcon, icon } from '../icons.js';
import { errorText, oversees, avatar, contactName } from './common.js';
import { toggleSide } from './layout.js';
import { view, isWorking, controlsOf, stamp, shows } from './workspace.js';
import { toast } from '../ui.js';

// How many of the contact's other conversations a page shows.
const PREVIOUS = 20;

// parts: the sections; hooks: `open(id)` opens a conversation, `changed()` reads the open one
// again (after labels or the contact changed). contact: the contact shown (null while read).
let side = { parts: null, hooks: null, conversation: null, contact: null, next: null, previous: [], editing: false };

export function sideBox(hooks) {
  const parts = {
    contact: h('section', { class: 'ws-side-section', 'data-section': 'contact', 'aria-labelledby': 'ws-contact-title' }),
    previous: h('section', { class: 'ws-side-section', 'data-section': 'previous', 'aria-labelledby': 'ws-previous-title' }),
    labels: h('section', { class: 'ws-side-section', 'data-section': 'labels', 'aria-labelledby': 'ws-labels-title' }),
  };
  side = { parts, hooks, conversation: null, contact: null, next: null, previous: [], editing: false };
  const body = h('div', { class: 'ws-side-body' },
    h('div', { class: 'ws-side-head' },
      h('button', { type: 'button', class: 'icon-button ws-side-back', 'data-ws-side-toggle': 'back', 'aria-controls': 'ws-side', onclick: toggleSide }, icon('back')),
      h('h2', { id: 'ws-contact-title' }, t('workspace.contact')),
      h('button', { type: 'button', class: 'icon-button ws-side-close', 'data-ws-side-toggle': '', 'aria-controls': 'ws-side', onclick: toggleSide }, icon('panel'))),
    parts.contact, parts.labels, parts.previous,
    h('section', { class: 'ws-side-section', 'data-slot': 'orders', hidden: true }),
    h('section', { class: 'ws-side-section', 'data-slot': 'attachments', hidden: true }));
  clearSide();
  return body;
}

// No conversation open: the panel says so.
export function clearSide() {
  if (!side.parts) return;
  side.conversation = null;
  replace(side.parts.contact, h('p', { class: 'muted' }, t('conversations.pick')));
  replace(side.parts.previous);
  replace(side.parts.labels);
}

// Another conversation was opened: its contact, labels and the contact's other conversations.
export function showSide(c) {
  if (!side.parts) return;
  side.conversation = c.id;
  side.editing = false;
  side.contact = null;
  drawLabels(c, true);
  drawContact(c);
  loadContact(c).catch(() => null);
  loadPrevious(c, null).catch(() => drawPrevious(c, t('workspace.no_previous')));
}

// A live update of the open conversation: labels redrawn when they changed, the contact read
// again when its name or ways to reach it changed (unless the person is editing it).
export function updateSide(c) {
  if (!side.parts || side.conversation !== c.id) return;
  drawLabels(c, false);
  const summary = side.parts.contact.dataset.summary;
  if (!side.editing && summary !== undefined && summary !== JSON.stringify(c.contact)) loadContact(c).catch(() => null);
}

async function loadContact(c) {
  // Agents may be refused a contact their conversation no longer shows: the summary stays.
  const contact = await get(`/contacts/${c.contact.id}`).catch(() => null);
  if (side.conversation !== c.id) return;
  side.contact = contact;
  drawContact(c);
}

function drawContact(c) {
  const box = side.parts.contact;
  const contact = side.contact ?? c.contact;
  box.dataset.summary = JSON.stringify(c.contact);
  const row = (key, value) => (value ? h('div', { class: 'ws-fact', 'data-fact': key }, h('dt', {}, t(`contact.${key}`)), h('dd', {}, value)) : null);
  const custom = Object.entries(contact.custom ?? {}).map(([key, value]) => h('div', { class: 'ws-fact', 'data-fact': key }, h('dt', {}, key), h('dd', {}, value)));
  replace(box,
    h('div', { class: 'ws-contact-card' }, avatar(contact, 'lg'), h('div', {}, h('strong', { class: 'ws-contact-name', 'data-testid': 'contact-name' }, contactName(contact)), h('div', { class: 'muted small' }, `#${contact.id}`))),
    h('dl', { class: 'ws-facts' }, row('email', contact.email), row('phone', contact.phone), row('notes', contact.notes), custom),
    oversees() && side.contact ? h('button', { type: 'button', class: 'secondary', 'data-ws-action': 'edit-contact', onclick: () => editContact(c) }, t('conversations.edit_contact')) : null);
}

// Supervisors and administrators edit the contact in place; saved, the list and the
// conversation show the new name.
function editContact(c) {
  side.editing = true;
  const contact = side.contact;
  const input = (name, value, type = 'text') => h('input', { type, name, value: value ?? '' });
  const fields = { name: input('name', contact.name), email: input('email', contact.email, 'email'), phone: input('phone', contact.phone, 'tel') };
  const notes = h('textarea', { name: 'notes', rows: 3 });
  notes.value = contact.notes ?? '';
  const done = () => {
    side.editing = false;
    drawContact(c);
  };
  const form = h('form', { class: 'ws-contact-form', novalidate: true },
    Object.entries(fields).map(([name, el]) => field(t(`contact.${name}`), el)),
    field(t('contact.notes'), notes),
    h('div', { class: 'error form-error', role: 'alert' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('common.save')), h('button', { type: 'button', class: 'secondary', onclick: done }, t('common.cancel'))));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      side.contact = await api('PATCH', `/contacts/${contact.id}`, { name: fields.name.value, email: fields.email.value, phone: fields.phone.value, notes: notes.value });
      done();
      await side.hooks.changed({ contact: true });
    } catch (err) {
      showError(form, { ...err, message: errorText(err) }, errorText(err));
    }
  });
  replace(side.parts.contact, form);
  fields.name.focus();
}

// The contact's other conversations, a page at a time (`before`: the next page's cursor).
async function loadPrevious(c, before) {
  const { items, next } = await getPage(`/contacts/${c.contact.id}/conversations?limit=${PREVIOUS}${before ? `&before=${before}` : ''}`);
  if (side.conversation !== c.id) return;
  side.previous = before ? [...side.previous, ...items] : items;
  side.next = next;
  drawPrevious(c);
}

function drawPrevious(c, failed = null) {
  const others = failed ? [] : side.previous.filter((p) => p.id !== c.id);
  const entry = (p) => h('li', {}, h('button', { type: 'button', class: 'ws-previous-item', 'data-id': p.id, onclick: () => side.hooks.open(p.id) },
    h('span', { class: 'ws-previous-top' }, channelIcon(p.channel?.kind ?? 'unknown', t(`workspace.channel_${p.channel?.kind ?? 'unknown'}`)),
      h('time', { datetime: new Date(p.created_at).toISOString() }, formatTime(p.created_at, language())),
      h('span', { class: `badge status-${p.status}` }, t(`status.${p.status}`))),
    h('span', { class: 'preview' }, p.last_preview)));
  replace(side.parts.previous,
    h('h3', { id: 'ws-previous-title' }, t('workspace.previous')),
    others.length ? h('ul', { class: 'ws-previous', 'data-testid': 'previous-conversations' }, others.map(entry)) : h('p', { class: 'muted small' }, failed ?? t('workspace.no_previous')),
    side.next ? h('button', { type: 'button', class: 'link', onclick: () => loadPrevious(c, side.next).catch((err) => toast(errorText(err), { kind: 'error' })) }, t('conversations.show_more')) : null);
}

// Labels: shown to all staff; added and removed by whoever works the conversation. The form is
// built again only for another conversation or when the person starts or stops working it; the
// chips follow every change.
function drawLabels(c, fresh) {
  const box = side.parts.labels;
  const working = isWorking(c);
  const shape = JSON.stringify([c.id, working]);
  if (fresh || box.dataset.shape !== shape) {
    box.dataset.shape = shape;
    const chips = h('div', { class: 'ws-chips', 'data-testid': 'labels' });
    replace(box, h('h3', { id: 'ws-labels-title' }, t('workspace.labels')), chips, working ? labelForm(c) : null);
  }
  const chips = box.querySelector('.ws-chips');
  if (!shows(chips, c.labels)) fillChips(chips, c, working);
}

function labelForm(c) {
  const state = controlsOf(c.id);
  const input = h('input', { type: 'text', maxlength: 40, placeholder: t('conversations.add_label'), 'aria-label': t('conversations.add_label'), 'data-ws-label': '', oninput: () => (state.label = input.value) });
  input.value = state.label;
  const form = h('form', { class: 'actions ws-label-form' }, input, h('button', { type: 'submit', class: 'secondary' }, t('workspace.add')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    try {
      await post(`/conversations/${c.id}/labels`, { label: input.value });
      input.value = '';
      state.label = '';
      await side.hooks.changed({});
    } catch (err) {
      toast(errorText(err), { kind: 'error' });
    }
  });
  return form;
}

function fillChips(chips, c, working) {
  const remove = (label) => api('DELETE', `/conversations/${c.id}/labels`, { label }).then(() => side.hooks.changed({})).catch((err) => toast(errorText(err), { kind: 'error' }));
  stamp(chips, c.labels);
  replace(chips, c.labels.length
    ? c.labels.map((label) => h('span', { class: 'badge label', 'data-label': label }, label,
      working ? h('button', { type: 'button', class: 'chip-remove', 'aria-label': `${t('conversations.remove_label')} ${label}`, onclick: () => remove(label) }, '×') : null))
    : h('span', { class: 'muted small' }, t('workspace.no_labels')));
}
