// Two pieces every screen shares: toasts (a short message that goes away by itself, read out by
// screen readers) and a confirmation dialog on a native <dialog> (Esc cancels, focus goes back to
// the button that opened it). They replace the browser's alert() and confirm().
import { t } from './i18n.js';
import { h } from './dom.js';

const TIMEOUT_MS = { info: 5000, ok: 5000, warn: 8000, error: 10000 };
let regions = null;

// The live regions exist before any message goes in, so screen readers announce the first one too.
function liveRegions() {
  if (regions) return regions;
  const polite = h('div', { role: 'status', 'aria-live': 'polite' });
  const urgent = h('div', { role: 'alert', 'aria-live': 'assertive' });
  document.body.append(h('div', { class: 'toasts', 'data-testid': 'toasts' }, polite, urgent));
  regions = { polite, urgent };
  return regions;
}

if (document.body) liveRegions();

// Shows `message` for a few seconds; kind is 'info', 'ok', 'warn' or 'error' (errors use the
// assertive region and stay longer). Hovering or focusing the toast keeps it until left.
export function toast(message, { kind = 'info', timeout } = {}) {
  const { polite, urgent } = liveRegions();
  const close = h('button', { type: 'button', class: 'icon small', 'aria-label': t('common.close'), title: t('common.close') }, '×');
  const node = h('div', { class: `toast ${kind}`, 'data-kind': kind }, h('p', {}, message), close);
  let timer = null;
  const dismiss = () => {
    clearTimeout(timer);
    node.remove();
  };
  const wait = () => {
    clearTimeout(timer);
    timer = setTimeout(dismiss, timeout ?? TIMEOUT_MS[kind] ?? TIMEOUT_MS.info);
  };
  close.addEventListener('click', dismiss);
  node.addEventListener('mouseenter', () => clearTimeout(timer));
  node.addEventListener('mouseleave', wait);
  node.addEventListener('focusin', () => clearTimeout(timer));
  node.addEventListener('focusout', wait);
  (kind === 'error' ? urgent : polite).append(node);
  wait();
  return dismiss;
}

let dialogCount = 0;

// Asks a yes/no question in a modal dialog; resolves true only when the person confirms. With
// `danger`, the confirm button is red and Cancel has the focus, so Enter alone does no harm.
export function confirmDialog({ title, body, confirmLabel, cancelLabel, danger = false }) {
  const opener = document.activeElement;
  const id = `dialog${++dialogCount}`;
  const cancel = h('button', { type: 'submit', value: 'cancel', class: 'secondary' }, cancelLabel ?? t('common.cancel'));
  const confirm = h('button', { type: 'submit', value: 'confirm', class: danger ? 'danger' : null }, confirmLabel ?? t('common.confirm'));
  const dialog = h(
    'dialog',
    { class: 'dialog', 'aria-labelledby': `${id}-title`, 'aria-describedby': body ? `${id}-body` : null },
    h('form', { method: 'dialog' }, h('h2', { id: `${id}-title` }, title), body ? h('p', { id: `${id}-body` }, body) : null, h('div', { class: 'dialog-actions' }, cancel, confirm)),
  );
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'confirm');
      dialog.remove();
      if (opener?.isConnected) opener.focus();
    });
    dialog.showModal();
    (danger ? cancel : confirm).focus();
  });
}
