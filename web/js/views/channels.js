// Channels: where customers write from. The web widget's page shows the one <script> tag a site
// adds; an API channel shows its token and webhook secret once, at creation.
import { api, get, post, del } from '../api.js';
import { t, language } from '../i18n.js';
import { h, field, showError, replace, formatTime } from '../dom.js';
import { busy, errorForUi, errorText, formError } from './common.js';
import { pageHead } from './page.js';
import { toast, confirmDialog } from '../ui.js';

export async function channelsView(main, created) {
  const [channels, groups] = await Promise.all([get('/channels'), get('/groups')]);
  const groupName = (id) => groups.find((g) => g.id === id)?.name ?? t('channels.general_queue');
  const act = (work) => async () => {
    try {
      const done = await work();
      if (done !== false) await channelsView(main, done);
    } catch (err) {
      toast(errorText(err), { kind: 'error' });
    }
  };
  const rotate = (c) => act(async () => {
    if (!(await confirmDialog({ title: t('channels.rotate_title'), body: t('channels.confirm_rotate'), confirmLabel: t('channels.rotate'), danger: true }))) return false;
    return post(`/channels/${c.id}/rotate`);
  });
  const switchOff = (c) => act(async () => {
    if (!(await confirmDialog({ title: t('channels.off_title'), body: t('channels.confirm_off', { name: c.name }), confirmLabel: t('channels.switch_off'), danger: true }))) return false;
    await del(`/channels/${c.id}`);
    toast(t('channels.switched_off', { name: c.name }), { kind: 'ok' });
  });
  const cards = channels.map((c) =>
    h('section', { class: 'card', 'data-channel': c.id },
      h('div', { class: 'page-head card-head' },
        h('h2', {}, c.name, ' ', h('span', { class: 'badge accent' }, t(`channels.kind_${c.kind}`)), c.disabled_at ? [' ', h('span', { class: 'badge deactivated' }, t('channels.off'))] : null),
        c.disabled_at ? null : h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'secondary small', onclick: (event) => event.target.closest('section').replaceWith(channelForm(main, groups, c)) }, t('common.edit')),
          h('button', { type: 'button', class: 'secondary small', onclick: rotate(c) }, t('channels.rotate')),
          h('button', { type: 'button', class: 'danger small', onclick: switchOff(c) }, t('channels.switch_off')))),
      h('p', { class: 'muted' }, `${t('channels.routes_to')}: ${groupName(c.group)} · ${t(`channels.mode_${c.mode}`)} · ${t('common.created')}: ${formatTime(c.created_at, language())}`),
      c.snippet ? [h('p', {}, t('channels.snippet_help')), h('pre', { class: 'mail', 'data-testid': 'snippet' }, c.snippet)] : null,
      c.kind === 'api' ? [h('p', {}, t('channels.api_help')), h('pre', { class: 'mail' }, `POST ${location.origin}/api/v1/channels/${c.id}/messages\nAuthorization: Bearer ch_…\n{"contact": {"identifier": "…"}, "text": "…"}`), c.webhook_url ? h('p', { class: 'muted' }, `${t('channels.webhook')}: ${c.webhook_url}`) : null] : null));
  const secrets = created?.webhook_secret
    ? h('section', { class: 'card callout notice', role: 'status' }, h('p', {}, t('channels.secrets_once')), created.token ? h('p', {}, `${t('channels.token')}: `, h('code', { class: 'secret' }, created.token)) : null, h('p', {}, `${t('channels.webhook_secret')}: `, h('code', { class: 'secret' }, created.webhook_secret)))
    : null;
  // The new-channel form is open while there is none; after that the title bar's button opens it.
  const form = channelForm(main, groups);
  form.hidden = channels.length > 0;
  const create = { label: t('channels.new'), onclick: () => {
    form.hidden = false;
    form.querySelector('select, input')?.focus();
  } };
  replace(main, pageHead(t('channels.title'), create), secrets, form, cards.length ? cards : h('p', { class: 'card empty' }, t('channels.none')));
}

// The form for a new channel, or, given `channel`, for editing it (its kind stays).
function channelForm(main, groups, channel) {
  const kind = h('select', { name: 'kind' }, h('option', { value: 'widget' }, t('channels.kind_widget')), h('option', { value: 'api' }, t('channels.kind_api')));
  const name = h('input', { type: 'text', name: 'name', required: true, value: channel?.name });
  const group = h('select', { name: 'group' }, h('option', { value: '' }, t('channels.general_queue')), groups.map((g) => h('option', { value: g.id, selected: g.id === channel?.group }, g.name)));
  const mode = h('select', { name: 'mode' }, ['automatic', 'manual', 'none'].map((m) => h('option', { value: m, selected: m === channel?.mode }, t(`channels.mode_${m}`))));
  const webhook = h('input', { type: 'url', name: 'webhook_url', placeholder: 'https://…', value: channel?.webhook_url });
  const webhookField = field(t('channels.webhook'), webhook, t('channels.webhook_help'));
  const isApi = () => (channel ? channel.kind : kind.value) === 'api';
  webhookField.hidden = !isApi();
  kind.addEventListener('change', () => (webhookField.hidden = !isApi()));
  const title = channel ? t('channels.edit_title', { name: channel.name }) : t('channels.new');
  const buttons = channel
    ? h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('common.save')), h('button', { type: 'button', class: 'secondary', onclick: () => channelsView(main) }, t('common.cancel')))
    : h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('channels.create')), h('button', { type: 'button', class: 'secondary', onclick: (event) => (event.target.closest('form').hidden = true) }, t('common.cancel')));
  const form = h('form', { class: 'card card-form', novalidate: true, 'data-channel-form': channel?.id ?? 'new' }, h('h2', {}, title), channel ? null : field(t('channels.kind'), kind), field(t('field.name'), name), field(t('channels.routes_to'), group), field(t('channels.mode'), mode), webhookField, formError(), buttons);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { name: name.value, group: group.value ? Number(group.value) : null, mode: mode.value };
    if (isApi()) body.webhook_url = webhook.value.trim() || (channel ? null : undefined);
    try {
      if (channel) {
        await busy(form, () => api('PATCH', `/channels/${channel.id}`, body));
        await channelsView(main);
      } else {
        const created = await busy(form, () => post('/channels', { kind: kind.value, ...body }));
        await channelsView(main, created);
      }
    } catch (err) {
      showError(form, errorForUi(err));
    }
  });
  return form;
}
