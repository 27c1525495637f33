// Groups (departments): create, rename, choose members, delete.
import { get, post, patch, del } from '../api.js';
import { t } from '../i18n.js';
import { h, field, showError, replace } from '../dom.js';
import { busy, errorForUi, formError, errorText } from './common.js';

export async function groupsView(main) {
  const [groups, users] = await Promise.all([get('/groups'), get('/users')]);
  const editor = h('div', {});
  const rows = groups.map((group) => {
    const message = h('span', { class: 'error', role: 'alert' });
    return h(
      'tr',
      {},
      h('td', {}, group.name),
      h('td', {}, group.members.length ? group.members.map((m) => m.name).join(', ') : h('span', { class: 'muted' }, t('groups.no_members'))),
      h('td', {}, h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', onclick: () => openEditor(editor, users, group, main) }, t('common.edit')),
        h('button', { type: 'button', class: 'danger', onclick: async () => {
          if (!confirm(t('groups.confirm_delete', { name: group.name }))) return;
          try {
            await del(`/groups/${group.id}`);
            await groupsView(main);
          } catch (err) {
            message.textContent = errorText(err);
          }
        } }, t('common.delete'))), message),
    );
  });
  replace(
    main,
    h('div', { class: 'actions' }, h('h1', {}, t('groups.title')), h('button', { type: 'button', onclick: () => openEditor(editor, users, null, main) }, t('groups.new'))),
    h('p', { class: 'muted' }, t('groups.help')),
    editor,
    h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, t('field.name')), h('th', {}, t('groups.members')), h('th', {}, ''))), h('tbody', {}, groups.length ? rows : h('tr', {}, h('td', { colspan: 3, class: 'muted' }, t('groups.none'))))),
  );
}

function openEditor(editor, users, group, main) {
  const name = h('input', { type: 'text', name: 'name', value: group?.name ?? '', required: true });
  const members = new Set((group?.members ?? []).map((m) => m.id));
  const rules = group?.rules ?? {};
  const capacity = h('input', { type: 'number', name: 'capacity', min: 1, max: 100, value: rules.capacity ?? '' });
  const maxQueue = h('input', { type: 'number', name: 'max_queue', min: 1, max: 10000, value: rules.max_queue ?? '' });
  const policy = h('select', { name: 'policy' }, ['equitable', 'round_robin', 'sticky'].map((p) => h('option', { value: p }, t(`groups.policy_${p}`))));
  policy.value = rules.policy ?? 'equitable';
  const boxes = users.filter((user) => user.active).map((user) => h('label', {}, h('input', { type: 'checkbox', value: user.id, checked: members.has(user.id) }), `${user.first_name} ${user.last_name}`));
  const form = h(
    'form',
    { class: 'card', novalidate: true },
    h('h2', {}, group ? t('groups.edit_named', { name: group.name }) : t('groups.new')),
    field(t('field.name'), name),
    h('fieldset', { 'data-field': 'members' }, h('legend', {}, t('groups.members')), boxes, h('div', { class: 'error' })),
    h('fieldset', {}, h('legend', {}, t('groups.routing')),
      h('div', { 'data-field': 'rules.policy' }, field(t('groups.policy'), policy)),
      h('div', { 'data-field': 'rules.capacity' }, field(t('groups.capacity'), capacity, t('groups.capacity_help'))),
      h('div', { 'data-field': 'rules.max_queue' }, field(t('groups.max_queue'), maxQueue, t('groups.max_queue_help')))),
    formError(),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('common.save')), h('button', { type: 'button', class: 'secondary', onclick: () => replace(editor) }, t('common.cancel'))),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const number = (input) => (input.value ? Number(input.value) : null);
    const body = {
      name: name.value,
      members: [...form.querySelectorAll('fieldset input[type=checkbox]:checked')].map((box) => Number(box.value)),
      rules: { policy: policy.value, capacity: number(capacity), max_queue: number(maxQueue) },
    };
    try {
      await busy(form, () => (group ? patch(`/groups/${group.id}`, body) : post('/groups', body)));
      await groupsView(main);
    } catch (err) {
      showError(form, errorForUi(err));
    }
  });
  replace(editor, form);
  name.focus();
}
