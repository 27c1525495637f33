// Signing in, "forgot password", and the pages behind e-mailed links (invite, reset).
import { post } from '../api.js';
import { t, has } from '../i18n.js';
import { h, field, showError, replace } from '../dom.js';
import { signedIn } from '../app.js';
import { busy, errorForUi, formError, notice } from './common.js';

export function loginView(main) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const totp = h('input', { type: 'text', name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code' });
  const totpField = field(t('auth.totp'), totp, t('auth.totp_hint'));
  totpField.hidden = true;
  // Sent here by the server (signed out elsewhere, deactivated, expired): say why, once.
  const reason = sessionStorage.getItem('centralita.signed_out_reason');
  sessionStorage.removeItem('centralita.signed_out_reason');
  const form = h(
    'form',
    { class: 'card', novalidate: true },
    h('h1', {}, t('auth.login_title')),
    reason && has(`error.${reason}`) ? notice(t(`error.${reason}`)) : null,
    field(t('field.email'), email),
    field(t('field.password'), password),
    totpField,
    formError(),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('auth.login_button')), h('a', { href: '/forgot', 'data-link': true }, t('auth.forgot_link'))),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { email: email.value, password: password.value };
    if (totp.value.trim()) body.totp = totp.value.trim();
    try {
      const me = await busy(form, () => post('/auth/login', body));
      await signedIn(me);
    } catch (err) {
      if (err.code === 'totp_required' || err.code === 'totp_invalid') {
        totpField.hidden = false;
        showError(form, { ...errorForUi(err), field: 'totp' });
        return;
      }
      showError(form, errorForUi(err));
    }
  });
  replace(main, h('div', { class: 'narrow' }, form));
  email.focus();
}

export function forgotView(main) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const form = h(
    'form',
    { class: 'card', novalidate: true },
    h('h1', {}, t('auth.forgot_title')),
    h('p', { class: 'muted' }, t('auth.forgot_help')),
    field(t('field.email'), email),
    formError(),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('auth.forgot_button')), h('a', { href: '/login', 'data-link': true }, t('auth.back_to_login'))),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await busy(form, () => post('/auth/password/forgot', { email: email.value }));
      replace(form, h('h1', {}, t('auth.forgot_title')), notice(t('auth.forgot_sent')), h('a', { href: '/login', 'data-link': true }, t('auth.back_to_login')));
    } catch (err) {
      showError(form, errorForUi(err));
    }
  });
  replace(main, h('div', { class: 'narrow' }, form));
  email.focus();
}

function tokenFromHash() {
  return new URLSearchParams(location.hash.slice(1)).get('token') ?? '';
}

// Invite and reset links both lead here: check the link, then choose a password.
export async function setPasswordView(main, kind) {
  const token = tokenFromHash();
  const card = h('div', { class: 'card' }, h('h1', {}, t(kind === 'invite' ? 'auth.invite_title' : 'auth.reset_title')));
  replace(main, h('div', { class: 'narrow' }, card));
  let link;
  try {
    link = await post('/links/check', { token });
  } catch (err) {
    card.append(h('p', { class: 'error', role: 'alert' }, errorForUi(err).message), h('a', { href: '/login', 'data-link': true }, t('auth.back_to_login')));
    return;
  }
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', required: true, minlength: 10 });
  const confirm = h('input', { type: 'password', name: 'confirm', autocomplete: 'new-password', required: true });
  // A reset revokes the API tokens unless the person unticks it; an invited user has none.
  const revoke = h('input', { type: 'checkbox', name: 'revoke_tokens', checked: true });
  // Asked for only when the account has two-factor login, as the sign-in form does.
  const totp = h('input', { type: 'text', name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code' });
  const totpField = field(t('auth.totp'), totp, t('auth.totp_hint'));
  totpField.hidden = true;
  const form = h(
    'form',
    { novalidate: true },
    h('p', {}, t('auth.set_password_for', { name: link.first_name, email: link.email })),
    field(t('field.new_password'), password, t('auth.password_rule')),
    field(t('field.confirm_password'), confirm),
    kind === 'reset' ? h('div', { class: 'field notices' }, h('label', {}, revoke, ' ', t('auth.revoke_tokens')), h('small', { class: 'muted hint' }, t('auth.revoke_tokens_hint'))) : null,
    totpField,
    formError(),
    h('button', { type: 'submit' }, t('auth.set_password_button')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (password.value !== confirm.value) {
      showError(form, { field: 'confirm', message: t('auth.passwords_differ') });
      return;
    }
    const path = kind === 'invite' ? '/invites/accept' : '/auth/password/reset';
    const body = { token, password: password.value };
    if (kind === 'reset') body.revoke_tokens = revoke.checked;
    if (kind === 'reset' && totp.value.trim()) body.totp = totp.value.trim();
    try {
      const me = await busy(form, () => post(path, body));
      history.replaceState(null, '', location.pathname);
      await signedIn(me);
    } catch (err) {
      if (err.code === 'totp_required' || err.code === 'totp_invalid') {
        totpField.hidden = false;
        showError(form, { ...errorForUi(err), field: 'totp' });
        return;
      }
      showError(form, errorForUi(err));
    }
  });
  card.append(form);
  password.focus();
}
