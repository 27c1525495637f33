// The composer pinned under the messages: a reply, or an internal note (the composer then wears
// the notes' colour and its button says "Send note", so a note is never sent as a reply by
// mistake). Enter (and Ctrl/Cmd+Enter, the shortcut that sends from anywhere: keys.js) sends,
// Shift+Enter breaks the line. The draft and the mode live in the workspace's state, so redraws
// and live updates never lose them.
import { post } from '../api.js';
import { t } from '../i18n.js';
import { h } from '../dom.js';
import { errorText } from './common.js';
import { view, controlsOf } from './workspace.js';

// `sent(message)`: the server took it.
export function composer(c, { sent }) {
  const state = controlsOf(c.id);
  // Rebuilt only when the pane's controls change; the draft, the mode and the focus survive it.
  const hadFocus = view.main.querySelector('[data-ws-reply]') === document.activeElement;
  const text = h('textarea', { name: 'text', rows: 3, 'data-ws-reply': '', 'aria-label': t('conversations.write'), 'aria-keyshortcuts': 'r', oninput: (e) => view.drafts.set(c.id, e.target.value) });
  text.value = view.drafts.get(c.id) ?? '';
  if (hadFocus) queueMicrotask(() => text.focus());
  const note = h('input', { type: 'checkbox', name: 'private', 'data-ws-note': '', 'aria-keyshortcuts': 'n' });
  note.checked = state.note;
  const send = h('button', { type: 'submit', 'data-ws-action': 'send', 'aria-keyshortcuts': 'Control+Enter Meta+Enter' });
  const error = h('div', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'composer', 'data-ws-composer': '' }, text,
    h('div', { class: 'composer-bar' }, h('label', { class: 'note-toggle' }, note, ' ', t('conversations.as_note')), send), error);
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
      sent(message);
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
