// Rules: the Rhai scripts of the rules folder as the server has them loaded — each file's state,
// its hooks with calls and errors, the compile error with line and column — and a dry run of the
// rules against a conversation, which changes nothing.
import { get, post } from '../api.js';
import { t, language } from '../i18n.js';
import { h, replace, field, showError, formatTime } from '../dom.js';
import { errorForUi } from './common.js';
import { pageHead } from './page.js';

export async function rulesView(main) {
  const files = h('div', { id: 'rule-files' });
  const refresh = h('button', { type: 'button' }, t('rules.refresh'));
  // Filled in once the server says where the rules folder is.
  const help = h('p', { class: 'page-help' });
  const load = async () => {
    const status = await get('/rules');
    help.textContent = t('rules.help', { dir: status.dir ?? '—', ms: status.deadline_ms });
    replace(files, status.files.length === 0 ? h('p', { class: 'card empty' }, t('rules.empty')) : status.files.map(fileCard));
  };
  refresh.addEventListener('click', load);
  replace(main, pageHead(t('rules.title'), refresh), help, files, await dryRunForm());
  await load();
}

function fileCard(file) {
  const error = file.error
    ? h('p', { class: 'error' }, t('rules.error_at', { line: file.error.line ?? '?', column: file.error.column ?? '?' }), ' ', file.error.message,
      h('br'), file.in_force ? t('rules.previous_in_force') : t('rules.not_in_force'))
    : null;
  const hooks = file.hooks.length === 0
    ? h('p', { class: 'muted' }, t('rules.no_hooks'))
    : h('div', { class: 'table-scroll', role: 'region', 'aria-label': file.name, tabindex: 0 }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('rules.hook')), h('th', { scope: 'col', class: 'num' }, t('rules.calls')), h('th', { scope: 'col', class: 'num' }, t('rules.errors')), h('th', { scope: 'col' }, t('rules.last_error')))),
      h('tbody', {}, file.hooks.map((hook) => h('tr', { 'data-hook': hook.hook },
        h('td', {}, h('code', {}, hook.hook), hook.suspended ? [' ', h('span', { class: 'badge failed' }, t('rules.suspended'))] : null),
        h('td', { class: 'num' }, hook.calls),
        h('td', { class: 'num' }, hook.errors),
        h('td', {}, hook.last_error ?? '', hook.last_error_at ? h('div', { class: 'muted' }, formatTime(hook.last_error_at, language())) : null))))));
  return h('section', { class: 'card rule', 'data-file': file.name },
    h('h2', {}, h('code', {}, file.name), ' ', h('span', { class: `badge ${file.status === 'ok' ? 'active' : 'failed'}` }, t(`rules.status_${file.status}`))),
    h('p', { class: 'muted' }, t('rules.changed', { when: formatTime(file.changed_at, language()) })),
    error, hooks);
}

// The conversations to try the rules on: the newest ones, open or finalized.
async function recentConversations() {
  try {
    return await get('/conversations?status=all&limit=100');
  } catch {
    return [];
  }
}

function conversationOption(c) {
  const who = c.contact.name || c.contact.email || c.contact.phone || t('rules.visitor');
  const parts = [`#${c.id}`, who, c.channel?.name ?? '—', t(`status.${c.status}`)];
  return h('option', { value: String(c.id) }, parts.join(' · '));
}

async function dryRunForm() {
  const select = h('select', { name: 'conversation_id', required: true });
  const result = h('div', { id: 'dry-run-result', 'aria-live': 'polite' });
  const fill = async () => {
    const list = await recentConversations();
    const chosen = select.value;
    replace(select, h('option', { value: '' }, list.length ? t('rules.choose_conversation') : t('rules.no_conversations')), list.map(conversationOption));
    if (list.some((c) => String(c.id) === chosen)) select.value = chosen;
  };
  const reload = h('button', { type: 'button', class: 'secondary', 'data-action': 'reload-conversations' }, t('rules.reload_conversations'));
  reload.addEventListener('click', fill);
  const form = h('form', { class: 'card card-form', novalidate: true },
    h('h2', {}, t('rules.dry_run')),
    h('p', { class: 'muted' }, t('rules.dry_run_help')),
    field(t('rules.conversation'), select, t('rules.conversation_hint')),
    h('div', { class: 'form-error error', role: 'alert' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('rules.try')), reload),
    result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(form, null, '');
    const id = Number(select.value);
    if (!Number.isInteger(id) || id < 1) return showError(form, { field: 'conversation_id', message: t('rules.conversation_needed') });
    try {
      replace(result, dryRunResult(await post('/rules/dry-run', { conversation_id: id })));
    } catch (err) {
      replace(result);
      showError(form, errorForUi(err), t('rules.failed'));
    }
  });
  await fill();
  return form;
}

function describe(action) {
  const [kind, value] = Object.entries(action)[0];
  return h('li', {}, h('strong', {}, t(`rules.action_${kind}`)), ': ', value);
}

// A hook that failed: where in its file (when the engine knows) and the engine's own words.
function scriptError(outcome) {
  const at = outcome.line !== undefined ? [t('rules.error_at', { line: outcome.line, column: outcome.column ?? '?' }), ' '] : [t('rules.hook_failed'), ' '];
  // The engine repeats the place at the end ("… (line 2, position 13)"): said once is enough.
  const words = outcome.line !== undefined ? outcome.error.replace(/\s*\(line \d+, position \d+\)$/, '') : outcome.error;
  return h('span', { class: 'error' }, at, words);
}

function dryRunResult(run) {
  const answer = (outcome, render) => h('li', {}, h('code', {}, outcome.file), ': ',
    outcome.error !== undefined ? scriptError(outcome) : render(outcome.answer));
  const actions = (list) => (list.length === 0 ? t('rules.nothing') : h('ul', {}, list.map(describe)));
  const close = (answer) => (answer.close ? [t('rules.would_close'), answer.message ? ` — «${answer.message}»` : ''] : t('rules.would_stay'));
  return [
    h('h3', {}, t('rules.on_message')),
    run.message ? h('p', { class: 'muted' }, t('rules.with_message'), ' «', run.message.text, '»') : h('p', { class: 'muted' }, t('rules.no_customer_message')),
    run.on_message.length ? h('ul', { class: 'dry-run on-message' }, run.on_message.map((o) => answer(o, actions))) : h('p', {}, t('rules.no_hook_files')),
    h('h3', {}, t('rules.should_close')),
    run.should_close.length ? h('ul', { class: 'dry-run should-close' }, run.should_close.map((o) => answer(o, close))) : h('p', {}, t('rules.no_hook_files')),
    h('p', { class: 'muted' }, t('rules.nothing_changed')),
  ];
}
