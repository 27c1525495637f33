// My profile: personal data and language, password, two-factor login, API tokens.
import { get, post, patch, del } from '../api.js';
import { t, setLanguage, language } from '../i18n.js';
import { h, field, showError, replace, formatTime } from '../dom.js';
import { session, refreshMe, navigate } from '../app.js';
import { busy, errorForUi, errorText, formError, notice } from './common.js';
import { pageHead, table, tableCard, actionsCell } from './page.js';
import { toast, confirmDialog } from '../ui.js';

export async function profileView(main) {
  const me = session.me;
  const tokens = await tokensCard();
  replace(
    main,
    pageHead(t('profile.title')),
    me.totp_setup_required ? h('p', { class: 'card error', role: 'alert' }, t('profile.totp_required_banner')) : null,
    personalCard(me),
    passwordCard(() => tokens.refresh()),
    totpCard(me),
    tokens,
  );
}

function personalCard(me) {
  const first = h('input', { type: 'text', name: 'first_name', value: me.first_name, required: true });
  const last = h('input', { type: 'text', name: 'last_name', value: me.last_name, required: true });
  const lang = h('select', { name: 'language' }, h('option', { value: '' }, t('profile.language_browser')), h('option', { value: 'es' }, 'Español'), h('option', { value: 'en' }, 'English'));
  lang.value = me.language ?? '';
  const notify = h('input', { type: 'checkbox', name: 'notify_assignments', checked: me.notify_assignments });
  const notifyQueue = h('input', { type: 'checkbox', name: 'notify_group_queue', checked: me.notify_group_queue });
  const form = h(
    'form',
    { class: 'card card-form', novalidate: true },
    h('h2', {}, t('profile.personal')),
    h('p', { class: 'muted' }, me.email),
    field(t('field.first_name'), first),
    field(t('field.last_name'), last),
    field(t('field.language'), lang),
    h(
      'fieldset',
      { class: 'field notices' },
      h('legend', {}, t('profile.notices')),
      checkbox(notify, t('profile.notify_assignments'), t('profile.notify_assignments_hint', { email: me.email })),
      checkbox(notifyQueue, t('profile.notify_group_queue'), t('profile.notify_group_queue_hint')),
    ),
    formError(),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('common.save')), h('span', { class: 'notice', role: 'status' })),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { first_name: first.value, last_name: last.value, language: lang.value || null, notify_assignments: notify.checked, notify_group_queue: notifyQueue.checked };
    try {
      session.me = await busy(form, () => patch('/me', body));
      if (lang.value && lang.value !== language()) {
        await setLanguage(lang.value);
        return navigate('/profile', { replace: true });
      }
      form.querySelector('.notice').textContent = t('common.saved');
    } catch (err) {
      showError(form, errorForUi(err));
    }
  });
  return form;
}

// A ticked box with its label, and below it what ticking it does.
function checkbox(input, label, hint) {
  return h('div', {}, h('label', {}, input, ' ', label), h('small', { class: 'muted hint' }, hint));
}

// `tokensRevoked` redraws the token list after a change that revoked them.
function passwordCard(tokensRevoked) {
  const current = h('input', { type: 'password', name: 'current_password', autocomplete: 'current-password', required: true });
  const next = h('input', { type: 'password', name: 'new_password', autocomplete: 'new-password', required: true });
  const revoke = h('input', { type: 'checkbox', name: 'revoke_tokens' });
  const form = h(
    'form',
    { class: 'card card-form', novalidate: true },
    h('h2', {}, t('profile.password')),
    field(t('field.current_password'), current),
    field(t('field.new_password'), next, t('auth.password_rule')),
    h('div', { class: 'field notices' }, checkbox(revoke, t('profile.revoke_tokens'), t('profile.revoke_tokens_hint'))),
    formError(),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('profile.change_password')), h('span', { class: 'notice', role: 'status' })),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { current_password: current.value, new_password: next.value, revoke_tokens: revoke.checked };
    try {
      const result = await busy(form, () => post('/me/password', body));
      form.reset();
      showError(form, null, '');
      const said = [t('profile.password_changed', { count: result.other_sessions_ended })];
      if (result.tokens_revoked > 0) said.push(t('profile.tokens_revoked', { count: result.tokens_revoked }));
      form.querySelector('.notice').textContent = said.join(' ');
      if (result.tokens_revoked > 0) await tokensRevoked();
    } catch (err) {
      showError(form, errorForUi(err));
    }
  });
  return form;
}

// The password and a current code (or recovery code) that every change of two-factor login asks
// for, so a session left open or a stolen cookie cannot turn it off or move it to another phone.
function proofFields(enrolled) {
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const totp = h('input', { type: 'text', name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', required: true });
  const fields = [field(t('field.current_password'), password, t('profile.totp_password_hint'))];
  if (enrolled) fields.push(field(t('profile.totp_current_code'), totp, t('auth.totp_hint')));
  const values = () => (enrolled ? { password: password.value, totp: totp.value.trim() } : { password: password.value });
  return { fields, values };
}

function totpCard(me) {
  const card = h('section', { class: 'card card-form' }, h('h2', {}, t('profile.totp')));
  if (me.totp_enabled) {
    const proof = proofFields(true);
    const form = h('form', { novalidate: true }, h('p', {}, t('profile.totp_on')), proof.fields, formError(), h('button', { type: 'submit', class: 'danger' }, t('profile.totp_disable')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await busy(form, () => post('/me/totp/disable', proof.values()));
        await refreshMe();
        navigate('/profile', { replace: true });
      } catch (err) {
        showError(form, errorForUi(err));
      }
    });
    const replaceButton = h('button', { type: 'button', class: 'secondary' }, t('profile.totp_replace'));
    replaceButton.addEventListener('click', () => setupFlow(card, true));
    card.append(form, h('p', {}, replaceButton));
    return card;
  }
  const start = h('button', { type: 'button' }, t('profile.totp_setup'));
  card.append(h('p', { class: 'muted' }, t('profile.totp_off')), start);
  start.addEventListener('click', () => setupFlow(card, false));
  return card;
}

// A new secret to scan, confirmed with a code from the new app; `enrolled`: it replaces the app in use.
async function setupFlow(card, enrolled) {
  let setup;
  try {
    setup = await post('/me/totp/setup');
  } catch (err) {
    card.append(h('p', { class: 'error', role: 'alert' }, errorForUi(err).message));
    return;
  }
  const code = h('input', { type: 'text', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true });
  const proof = proofFields(enrolled);
  const form = h(
    'form',
    { novalidate: true },
    h('p', {}, t('profile.totp_scan')),
    // An image from a data: URL, never markup inserted into the page.
    setup.qr_svg ? h('img', { class: 'qr', 'data-testid': 'totp-qr', width: 200, height: 200, alt: t('profile.totp_qr_alt'), src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(setup.qr_svg)}` }) : null,
    h('p', {}, t('profile.totp_key'), ' ', h('code', { class: 'secret', 'data-testid': 'totp-secret' }, setup.secret)),
    h('details', {}, h('summary', {}, t('profile.totp_url')), h('code', { class: 'secret' }, setup.otpauth_url)),
    field(t(enrolled ? 'profile.totp_new_code' : 'profile.totp_code'), code),
    proof.fields,
    formError(),
    h('button', { type: 'submit' }, t(enrolled ? 'profile.totp_replace_confirm' : 'profile.totp_confirm')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const result = await busy(form, () => post('/me/totp/enable', { code: code.value.trim(), ...proof.values() }));
      await refreshMe();
      replace(card, h('h2', {}, t('profile.totp')), notice(t(enrolled ? 'profile.totp_replaced' : 'profile.totp_enabled')), h('p', {}, t('profile.recovery_help')), h('ul', { 'data-testid': 'recovery-codes' }, result.recovery_codes.map((c) => h('li', {}, h('code', {}, c)))), h('button', { type: 'button', onclick: () => navigate('/profile', { replace: true }) }, t('common.done')));
    } catch (err) {
      showError(form, errorForUi(err));
    }
  });
  replace(card, h('h2', {}, t('profile.totp')), form);
  code.focus();
}

async function tokensCard() {
  const card = h('section', { class: 'card card-form' }, h('h2', {}, t('profile.tokens')), h('p', { class: 'muted' }, t('profile.tokens_help')));
  const list = h('div', {});
  const revoke = async (token) => {
    if (!(await confirmDialog({ title: t('profile.revoke_title'), body: t('profile.confirm_revoke', { name: token.name }), confirmLabel: t('profile.revoke'), danger: true }))) return;
    try {
      await del(`/me/tokens/${token.id}`);
      await render();
      toast(t('profile.token_revoked', { name: token.name }), { kind: 'ok' });
    } catch (err) {
      toast(errorText(err), { kind: 'error' });
    }
  };
  const render = async () => {
    const tokens = await get('/me/tokens');
    const headers = [t('field.name'), t('common.created'), { label: h('span', { class: 'sr-only' }, t('common.actions')), class: 'col-actions' }];
    const rows = tokens.map((token) => h('tr', {}, h('td', {}, token.name), h('td', {}, formatTime(token.created_at, language())), actionsCell({ label: t('profile.revoke'), kind: 'danger', small: true, onclick: () => revoke(token) })));
    replace(list, tableCard(table(headers, rows, t('profile.no_tokens')), t('profile.tokens')));
  };
  const name = h('input', { type: 'text', name: 'name', required: true });
  const shown = h('div', {});
  const form = h('form', { novalidate: true }, field(t('profile.token_name'), name), formError(), h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('profile.create_token'))), shown);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const created = await busy(form, () => post('/me/tokens', { name: name.value }));
      name.value = '';
      replace(shown, notice(t('profile.token_once')), h('code', { class: 'secret', 'data-testid': 'new-token' }, created.token));
      render();
    } catch (err) {
      showError(form, errorForUi(err));
    }
  });
  await render();
  card.append(list, form);
  card.refresh = render;
  return card;
}
