// Pieces the views share: who the user is, error text in the user's language, notices, buttons that wait.
import { t, has } from '../i18n.js';
import { h } from '../dom.js';
import { session } from '../app.js';

// Who the signed-in user is, as the views ask it (the server checks each request all the same).
export const roles = () => session.me.roles;
export const oversees = () => roles().includes('admin') || roles().includes('supervisor');
export const canDispense = () => roles().includes('agent') && (oversees() || session.me.permissions.includes('dispenser'));

// The server's error in the user's language when we have the words for its code.
export function errorText(err) {
  if (err?.code === 'network') return t('error.network');
  if (err?.code === 'too_many_attempts' && err.retryAfter) return t('error.too_many_attempts_wait', { seconds: err.retryAfter });
  const field = err?.field?.replace(/\[\d+\]$/, '');
  if (err?.code === 'invalid_input' && field && has(`invalid.${field}`)) return t(`invalid.${field}`);
  // Without words for the field, the server's own detail says what is wrong.
  if (err?.code === 'invalid_input') return t('error.invalid_input', { detail: err.message ?? '' });
  return has(`error.${err?.code}`) ? t(`error.${err.code}`) : err?.message ?? t('error.unknown');
}

export function errorForUi(err) {
  return { field: err?.field, message: errorText(err) };
}

export function notice(text) {
  return h('p', { class: 'notice', role: 'status' }, text);
}

// Disables a form's buttons while `work` runs, so a slow link does not invite double submits.
export async function busy(form, work) {
  const buttons = [...form.querySelectorAll('button')];
  buttons.forEach((button) => (button.disabled = true));
  try {
    return await work();
  } finally {
    buttons.forEach((button) => (button.disabled = false));
  }
}

export function formError() {
  return h('div', { class: 'error form-error', role: 'alert' });
}

// A contact as people call them: their name, else their number.
export const contactName = (contact) => contact?.name || `#${contact?.id ?? ''}`;

// The customer's initials in a coloured circle (one of eight colours, by the contact's id).
export function avatar(contact, size = '') {
  const words = (contact?.name ?? '').trim().split(/\s+/).filter(Boolean);
  const letters = words.length ? words.slice(0, 2).map((word) => [...word][0]).join('').toUpperCase() : '#';
  return h('span', { class: `avatar avatar-${(contact?.id ?? 0) % 8}${size ? ` avatar-${size}` : ''}`, 'aria-hidden': 'true', 'data-testid': 'avatar' }, letters);
}

// How long since `since` as people read a wait: seconds under a minute ("45 s"), minutes after.
export function waitedText(since) {
  const seconds = Math.max(0, Math.round((Date.now() - since) / 1000));
  return seconds < 60 ? t('waiting.seconds', { n: seconds }) : t('waiting.minutes', { n: Math.floor(seconds / 60) });
}
