// Users administration: list, create (an invite is mailed), edit roles and optional
// permissions, deactivate or reactivate, re-send the invite.
import { get, post, patch, del } from '../api.js';
import { t, language } from '../i18n.js';
import { h, field, showError, replace, formatTime } from '../dom.js';
import { busy, errorForUi, formError, errorText } from './common.js';
import { pageHead, table, tableCard, actionsCell } from './page.js';
import { toast, confirmDialog } from '../ui.js';

export async function usersView(main, message) {
  const [users, roles] = await Promise.all([get('/users'), get('/roles')]);
  const editor = h('div', {});
  const headers = [t('field.name'), t('field.email'), t('field.roles'), t('users.status'), { label: h('span', { class: 'sr-only' }, t('common.actions')), class: 'col-actions' }];
  const list = table(headers, users.map((user) => userRow(user, roles, editor, main)), t('users.none'));
  const create = { label: t('users.new'), onclick: () => openEditor(editor, roles, null, main) };
  const banner = message ? h('p', { class: 'card callout notice', role: 'status' }, message, ' ', h('a', { href: '/admin/outbox', 'data-link': true }, t('users.goto_outbox'))) : null;
  replace(main, pageHead(t('users.title'), create), banner, editor, tableCard(list, t('users.title'), { 'data-testid': 'users-table' }));
}

function userRow(user, roles, editor, main) {
  const act = (label, kind, work) => ({ label, kind, small: true, onclick: async () => {
    try {
      const notice = await work();
      if (notice === false) return;
      await usersView(main, typeof notice === 'string' ? notice : undefined);
    } catch (err) {
      toast(errorText(err), { kind: 'error' });
    }
  } });
  const deactivate = async () => {
    const sure = await confirmDialog({ title: t('users.deactivate_title'), body: t('users.confirm_deactivate', { email: user.email }), confirmLabel: t('users.deactivate'), danger: true });
    if (!sure) return false;
    await del(`/users/${user.id}`);
    toast(t('users.deactivated', { email: user.email }), { kind: 'ok' });
  };
  const actions = [
    { label: t('common.edit'), kind: 'secondary', small: true, onclick: () => openEditor(editor, roles, user, main) },
    user.status === 'invited' ? act(t('users.resend'), 'secondary', async () => { await post(`/users/${user.id}/invite`); return t('users.invite_resent', { email: user.email }); }) : null,
    user.active ? act(t('users.deactivate'), 'danger', deactivate) : act(t('users.activate'), 'secondary', () => patch(`/users/${user.id}`, { active: true })),
  ];
  return h(
    'tr',
    { 'data-email': user.email },
    h('td', {}, `${user.first_name} ${user.last_name}`),
    h('td', {}, user.email),
    h('td', {}, user.roles.map((role) => t(`role.${role}`)).join(', '), user.permissions.length ? h('div', { class: 'muted' }, user.permissions.map((p) => t(`permission.${p}`)).join(', ')) : null),
    h('td', {}, h('span', { class: `badge ${user.status}` }, t(`users.status_${user.status}`)), h('div', { class: 'muted' }, `${t('users.created')}: ${formatTime(user.created_at, language())}`)),
    actionsCell(actions.filter(Boolean)),
  );
}

// The create/edit form. Optional permissions follow the roles ticked.
function openEditor(editor, roles, user, main) {
  const input = (name, type, value) => h('input', { type, name, value: value ?? '', required: true });
  const first = input('first_name', 'text', user?.first_name);
  const last = input('last_name', 'text', user?.last_name);
  const email = input('email', 'email', user?.email);
  const roleBoxes = roles.map(({ role }) => h('input', { type: 'checkbox', name: 'roles', value: role, checked: user?.roles.includes(role) }));
  const permissionsSet = h('fieldset', { 'data-field': 'permissions' });
  const totpRequired = h('input', { type: 'checkbox', name: 'totp_required', checked: user?.totp_required });
  const lang = h('select', { name: 'language' }, h('option', { value: 'es' }, 'Español'), h('option', { value: 'en' }, 'English'));
  lang.value = user?.language ?? language();
  const chosen = new Set(user?.permissions ?? []);
  const renderPermissions = () => {
    const allowed = new Set(roles.filter(({ role }) => roleBoxes.find((box) => box.value === role).checked).flatMap((r) => r.optional_permissions));
    replace(permissionsSet, h('legend', {}, t('field.permissions')), allowed.size === 0 ? h('span', { class: 'muted' }, t('users.no_permissions')) : null, [...allowed].map((permission) => {
      const box = h('input', { type: 'checkbox', name: 'permissions', value: permission, checked: chosen.has(permission), onchange: (e) => (e.target.checked ? chosen.add(permission) : chosen.delete(permission)) });
      return h('label', {}, box, t(`permission.${permission}`));
    }), h('div', { class: 'error' }));
  };
  roleBoxes.forEach((box) => box.addEventListener('change', renderPermissions));
  renderPermissions();
  const form = h(
    'form',
    { class: 'card card-form', novalidate: true, 'aria-label': t(user ? 'users.edit' : 'users.new') },
    h('h2', {}, user ? t('users.edit_named', { email: user.email }) : t('users.new')),
    field(t('field.first_name'), first),
    field(t('field.last_name'), last),
    field(t('field.email'), email, user ? null : t('users.invite_hint')),
    user ? null : field(t('field.invite_language'), lang),
    h('fieldset', { 'data-field': 'roles' }, h('legend', {}, t('field.roles')), roleBoxes.map((box) => h('label', {}, box, t(`role.${box.value}`))), h('div', { class: 'error' })),
    permissionsSet,
    h('div', { class: 'field' }, h('label', {}, totpRequired, t('users.totp_required'))),
    formError(),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, user ? t('common.save') : t('users.create')), h('button', { type: 'button', class: 'secondary', onclick: () => replace(editor) }, t('common.cancel'))),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const allowed = new Set([...permissionsSet.querySelectorAll('input')].map((box) => box.value));
    const body = {
      first_name: first.value,
      last_name: last.value,
      email: email.value,
      roles: roleBoxes.filter((box) => box.checked).map((box) => box.value),
      permissions: [...chosen].filter((p) => allowed.has(p)),
      totp_required: totpRequired.checked,
    };
    if (!user) body.language = lang.value;
    try {
      await busy(form, () => (user ? patch(`/users/${user.id}`, body) : post('/users', body)));
      await usersView(main, user ? undefined : t('users.invite_sent', { email: body.email.trim().toLowerCase() }));
    } catch (err) {
      showError(form, errorForUi(err));
    }
  });
  replace(editor, form);
  first.focus();
}
