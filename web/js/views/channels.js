// Channels: where customers write from. The web widget's page shows the one <script> tag a site
// adds; an API channel shows its token and webhook secret once, at creation.
import { get, post, del } from '../api.js';
import { t, language } from '../i18n.js';
import { h, field, showError, replace, formatTime } from '../dom.js';
import { busy, errorForUi, errorText, formError } from './common.js';

export async function channelsView(main, created) {
  const [channels, groups] = await Promise.all([get('/channels'), get('/groups')]);
  const groupName = (id) => groups.find((g) => g.id === id)?.name ?? t('channels.general_queue');
  const act = (work) => async () => {
    try {
      await channelsView(main, await work());
    } catch (err) {
      alert(errorText(err));
    }
  };
  const cards = channels.map((c) =>
    h('section', { class: 'card', 'data-channel': c.id },
      h('h2', {}, c.name, ' ', h('span', { class: 'badge' }, t(`channels.kind_${c.kind}`)), c.disabled_at ? h('span', { class: 'badge deactivated' }, t('channels.off')) : null),
      c.disabled_at ? null : h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', onclick: act(() => (confirm(t('channels.confirm_rotate')) ? post(`/channels/${c.id}/rotate`) : null)) }, t('channels.rotate')),
        h('button', { type: 'button', class: 'danger', onclick: act(async () => { if (confirm(t('channels.confirm_off', { name: c.name }))) await del(`/channels/${c.id}`); }) }, t('channels.switch_off'))),
      h('p', { class: 'muted' }, `${t('channels.routes_to')}: ${groupName(c.group)} · ${t(`channels.mode_${c.mode}`)} · ${t('common.created')}: ${formatTime(c.created_at, language())}`),
      c.snippet ? [h('p', {}, t('channels.snippet_help')), h('pre', { class: 'mail', 'data-testid': 'snippet' }, c.snippet)] : null,
      c.kind === 'api' ? [h('p', {}, t('channels.api_help')), h('pre', { class: 'mail' }, `POST ${location.origin}/api/v1/channels/${c.id}/messages\nAuthorization: Bearer ch_…\n{"contact": {"identifier": "…"}, "text": "…"}`), c.webhook_url ? h('p', { class: 'muted' }, `${t('channels.webhook')}: ${c.webhook_url}`) : null] : null));
  const secrets = created?.webhook_secret
    ? h('section', { class: 'card notice', role: 'status' }, h('p', {}, t('channels.secrets_once')), created.token ? h('p', {}, `${t('channels.token')}: `, h('code', { class: 'secret' }, created.token)) : null, h('p', {}, `${t('channels.webhook_secret')}: `, h('code', { class: 'secret' }, created.webhook_secret)))
    : null;
  replace(main, h('h1', {}, t('channels.title')), secrets, createForm(main, groups), cards.length ? cards : h('p', { class: 'card empty' }, t('channels.none')));
}

function createForm(main, groups) {
  const kind = h('select', { name: 'kind' }, h('option', { value: 'widget' }, t('channels.kind_widget')), h('option', { value: 'api' }, t('channels.kind_api')));
  const name = h('input', { type: 'text', name: 'name', required: true });
  const group = h('select', { name: 'group' }, h('option', { value: '' }, t('channels.general_queue')), groups.map((g) => h('option', { value: g.id }, g.name)));
  const mode = h('select', { name: 'mode' }, ['automatic', 'manual', 'none'].map((m) => h('option', { value: m }, t(`channels.mode_${m}`))));
  const webhook = h('input', { type: 'url', name: 'webhook_url', placeholder: 'https://…' });
  const webhookField = field(t('channels.webhook'), webhook, t('channels.webhook_help'));
  webhookField.hidden = true;
  kind.addEventListener('change', () => (webhookField.hidden = kind.value !== 'api'));
  const form = h('form', { class: 'card', novalidate: true }, h('h2', {}, t('channels.new')), field(t('channels.kind'), kind), field(t('field.name'), name), field(t('channels.routes_to'), group), field(t('channels.mode'), mode), webhookField, formError(), h('button', { type: 'submit' }, t('channels.create')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { kind: kind.value, name: name.value, group: group.value ? Number(group.value) : null, mode: mode.value };
    if (kind.value === 'api' && webhook.value.trim()) body.webhook_url = webhook.value.trim();
    try {
      const created = await busy(form, () => post('/channels', body));
      await channelsView(main, created);
    } catch (err) {
      showError(form, errorForUi(err));
    }
  });
  return form;
}
