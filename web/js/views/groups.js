// Groups (departments): create, rename, choose members, delete.
import { get, post, patch, del } from '../api.js';
import { t } from '../i18n.js';
import { h, field, showError, replace } from '../dom.js';
import { busy, errorForUi, formError, errorText } from './common.js';
import { pageHead, table, tableCard, actionsCell } from './page.js';
import { toast, confirmDialog } from '../ui.js';

export async function groupsView(main) {
  const [groups, users] = await Promise.all([get('/groups'), get('/users')]);
  const editor = h('div', {});
  const remove = async (group) => {
    const sure = await confirmDialog({ title: t('groups.delete_title'), body: t('groups.confirm_delete', { name: group.name }), confirmLabel: t('common.delete'), danger: true });
    if (!sure) return;
    try {
      await del(`/groups/${group.id}`);
      await groupsView(main);
      toast(t('groups.deleted', { name: group.name }), { kind: 'ok' });
    } catch (err) {
      toast(errorText(err), { kind: 'error' });
    }
  };
  const rows = groups.map((group) =>
    h(
      'tr',
      { 'data-group': group.name },
      h('td', {}, group.name),
      h('td', {}, group.members.length ? group.members.map((m) => m.name).join(', ') : h('span', { class: 'muted' }, t('groups.no_members'))),
      actionsCell(
        { label: t('common.edit'), kind: 'secondary', small: true, onclick: () => openEditor(editor, users, group, main) },
        { label: t('common.delete'), kind: 'danger', small: true, onclick: () => remove(group) },
      ),
    ));
  const headers = [t('field.name'), t('groups.members'), { label: h('span', { class: 'sr-only' }, t('common.actions')), class: 'col-actions' }];
  replace(
    main,
    pageHead(t('groups.title'), { label: t('groups.new'), onclick: () => openEditor(editor, users, null, main) }, { help: t('groups.help') }),
    editor,
    tableCard(table(headers, rows, t('groups.none')), t('groups.title')),
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
    { class: 'card card-form', novalidate: true },
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
