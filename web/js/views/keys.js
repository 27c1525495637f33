// The workspace's keyboard shortcuts (issue 22), so an agent works a conversation without the
// mouse: j/k or the arrows move in the list (roving focus, list.js), Enter opens (the row is a
// button), r the reply, n internal note on/off, Ctrl/Cmd+Enter sends, e finalizes (asks first,
// pane.js), t the transfer picker, / the list's filters (the templates search once templates
// exist), ? these shortcuts in a dialog, Esc back to the list. They act only on the workspace,
// never while the person types in a field (but Ctrl/Cmd+Enter and Esc), never with Ctrl, Cmd or
// Alt held (the browser's shortcuts stay the browser's), and never behind an open dialog.
import { t } from '../i18n.js';
import { h } from '../dom.js';
import { toast } from '../ui.js';
import { focusList, moveInList } from './list.js';
import { narrow, backToList, showConversation } from './layout.js';
import { showAgents } from './pane.js';
import { view, mounted, isWorking, canTransfer } from './workspace.js';

// Each shortcut's keys (alternatives, each a list of keys pressed together) and what it does,
// in the order the help dialog lists them.
const SHORTCUTS = [
  [[['j'], ['down']], 'keys.next'],
  [[['k'], ['up']], 'keys.previous'],
  [[['enter']], 'keys.open'],
  [[['r']], 'keys.reply'],
  [[['n']], 'keys.note'],
  [[['Ctrl', 'enter'], ['⌘', 'enter']], 'keys.send'],
  [[['e']], 'keys.finalize'],
  [[['t']], 'keys.transfer'],
  [[['/']], 'keys.search'],
  [[['?']], 'keys.help'],
  [[['Esc']], 'keys.escape'],
];

// Keys whose caps show a symbol: the symbol, and its name for screen readers.
const SPOKEN = { down: ['↓', 'keys.arrow_down'], up: ['↑', 'keys.arrow_up'] };

const ACTIONS = {
  j: () => moveInList(1),
  k: () => moveInList(-1),
  r: reply,
  n: toggleNote,
  e: finalize,
  t: transfer,
  '/': search,
  '?': showShortcuts,
};

// Inputs one types in (a checkbox or a button is not typed in: shortcuts work there).
const TYPED = /^(text|search|email|tel|url|password|number|date|datetime-local|month|week|time)$/;
const typing = (node) => node instanceof HTMLElement && (node.isContentEditable || node.matches('textarea, select') || (node.matches('input') && TYPED.test(node.type)));

document.addEventListener('keydown', (event) => {
  if (!mounted() || event.defaultPrevented || event.isComposing) return;
  // Dialogs (these shortcuts, a confirmation) take their own keys: Esc closes them.
  if (document.querySelector('dialog[open]')) return;
  const command = event.ctrlKey || event.metaKey;
  if (event.altKey) return;
  if (event.key === 'Escape' && !command && !event.shiftKey) return escape(event);
  if (event.key === 'Enter' && command && !event.shiftKey) return send(event);
  if (command || typing(event.target)) return;
  const arrow = { ArrowDown: 1, ArrowUp: -1 }[event.key];
  // The arrows move in the list only from a row: elsewhere they scroll and choose as ever.
  if (arrow) {
    if (!event.target.closest?.('[data-ws-list]') || event.shiftKey) return;
    event.preventDefault();
    return moveInList(arrow);
  }
  // A letter with Shift is another key ("J"); "?" and "/" are typed with Shift on some layouts.
  const action = ACTIONS[event.key];
  if (!action) return;
  event.preventDefault();
  action();
});

const find = (selector) => view.root?.querySelector(selector) ?? null;

// A control of the open conversation, brought on screen: on a phone the conversation takes the
// screen; the agents table (overseers) gives way to it.
function paneControl(selector) {
  const node = find(selector);
  if (!node || !view.open) return null;
  if (view.pane.hidden) showAgents(false);
  if (narrow() && view.root.dataset.mode !== 'conversation') showConversation(view.open.id);
  return node;
}

// Says why a shortcut did nothing here (no conversation open, or not one the person works).
const notHere = (text = t('keys.not_here')) => toast(text, { kind: 'info' });

function reply() {
  const box = paneControl('[data-ws-reply]');
  if (!box) return notHere();
  box.focus();
}

// Internal note on or off: the composer changes colour (composer.js), and a toast says which.
let noteToast = null;
function toggleNote() {
  const note = paneControl('[data-ws-note]');
  if (!note) return notHere();
  note.checked = !note.checked;
  note.dispatchEvent(new Event('change', { bubbles: true }));
  noteToast?.();
  noteToast = toast(note.checked ? t('keys.note_on') : t('keys.note_off'), { kind: 'info' });
  find('[data-ws-reply]')?.focus();
}

// Ctrl/Cmd+Enter in the reply box sends by itself (composer.js); from elsewhere (the note's box,
// a row) it sends what the reply box holds. From another field (a label, the contact's form) it
// is that field's own.
function send(event) {
  if (typing(event.target)) return;
  const form = find('form[data-ws-composer]');
  if (!form) return;
  event.preventDefault();
  form.requestSubmit();
}

function finalize() {
  const button = paneControl('[data-ws-action="finalize"]');
  if (!button) return notHere();
  button.click();
}

function transfer() {
  const picker = paneControl('[data-ws-transfer]');
  if (picker) return picker.focus();
  notHere(view.open && isWorking(view.open) && canTransfer() ? t('conversations.no_target') : undefined);
}

// No templates yet: "/" goes to the list's filters (the templates issue points it at its search).
function search() {
  if (narrow() && view.root.dataset.mode !== 'list') return backToList();
  (find('[data-ws-filter][aria-pressed="true"]') ?? find('[data-ws-filter]'))?.focus();
}

// Esc leaves whatever field or control has the focus for the list; on a phone, the list again.
function escape(event) {
  if (narrow() && view.root.dataset.mode !== 'list') {
    event.preventDefault();
    return backToList();
  }
  if (document.activeElement?.closest?.('[data-ws-list]')) return;
  if (focusList()) event.preventDefault();
}

// The shortcuts' dialog (the "?" key and the strip's button): a table of keys and what they do.
// Esc or its button closes it; the focus goes back where it was, else to the list.
export function showShortcuts() {
  if (document.querySelector('dialog[data-ws-shortcuts]')) return;
  const opener = document.activeElement;
  const close = h('button', { type: 'submit', value: 'close' }, t('common.close'));
  const dialog = h('dialog', { class: 'dialog ws-shortcuts', 'aria-labelledby': 'ws-shortcuts-title', 'aria-describedby': 'ws-shortcuts-typing', 'data-ws-shortcuts': '' },
    h('form', { method: 'dialog' },
      h('h2', { id: 'ws-shortcuts-title' }, t('keys.title')),
      h('table', { class: 'ws-keys' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('keys.key')), h('th', { scope: 'col' }, t('keys.action')))),
        h('tbody', {}, SHORTCUTS.map(([keys, action]) => h('tr', { 'data-shortcut': action }, h('td', {}, keyCaps(keys)), h('td', {}, t(action)))))),
      h('p', { id: 'ws-shortcuts-typing', class: 'small' }, t('keys.typing')),
      h('div', { class: 'dialog-actions' }, close)));
  document.body.append(dialog);
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (opener?.isConnected && opener !== document.body) opener.focus();
    else focusList();
  });
  dialog.showModal();
  close.focus();
}

// "j or ↓", "Ctrl + Enter or ⌘ + Enter".
function keyCaps(alternatives) {
  const cap = (key) => {
    if (SPOKEN[key]) return h('kbd', {}, SPOKEN[key][0], h('span', { class: 'sr-only' }, ` ${t(SPOKEN[key][1])}`));
    return h('kbd', {}, key === 'enter' ? t('keys.enter') : key);
  };
  return alternatives.flatMap((keys, n) => [n ? ` ${t('keys.or')} ` : null, keys.flatMap((key, m) => [m ? ' + ' : null, cap(key)])]);
}

// The strip's button: the shortcuts are discoverable without knowing "?".
export function shortcutsButton() {
  // Only "?" shows, so the strip stays one row; the name says what it opens (and holds the "?").
  return h('button', { type: 'button', class: 'secondary ws-shortcuts-button', 'data-ws-shortcuts-button': '', 'aria-keyshortcuts': '?', 'aria-label': t('keys.button'), title: t('keys.button'), onclick: showShortcuts }, '?');
}
