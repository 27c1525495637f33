// Administrators' reading: the outbox (every mail, sent or waiting, with a copy button next to
// each invite or reset link that still works; a link gone from its mail says why) and the audit log.
import { get } from '../api.js';
import { t, has, language } from '../i18n.js';
import { h, replace, formatTime } from '../dom.js';
import { session } from '../app.js';
import { pageHead, tableCard } from './page.js';

export async function outboxView(main) {
  const mails = await get('/outbox?limit=100');
  replace(
    main,
    pageHead(t('outbox.title'), { label: t('common.refresh'), onclick: () => outboxView(main) }, { help: t('outbox.help') }),
    mails.length === 0 ? h('p', { class: 'card empty' }, t('outbox.empty')) : null,
    mails.map((mail) =>
      h('details', { class: 'card mail', 'data-to': mail.to },
        h('summary', {}, h('strong', {}, mail.to), ' · ', mail.subject, ' · ', h('span', { class: `badge ${mail.status}` }, t(`outbox.status_${mail.status}`)), ' ', linkBadge(mail.link), ' ', h('span', { class: 'muted' }, formatTime(mail.created_at, language()))),
        mail.last_error ? h('p', { class: 'error' }, mail.last_error) : null,
        recorded(mail.link) ? h('p', { class: 'notice' }, t('outbox.reset_link_recorded')) : null,
        mail.link?.status === 'live' ? links(mail.body).map(copyLink) : null,
        h('pre', { class: 'mail' }, mail.body))),
  );
}

// Why a mail's link is no longer in it (sent, used, replaced, expired, lost at a restart).
function linkBadge(link) {
  return link && link.status !== 'live' ? h('span', { class: 'badge link-gone' }, t(`outbox.link_${link.status}`)) : null;
}

// Someone else's live reset link: the server wrote to the audit log that it was shown.
function recorded(link) {
  return link?.status === 'live' && link.kind === 'reset' && link.user_id !== session.me?.id;
}

// The invite and reset links in a mail's text.
function links(body) {
  return body.match(/https?:\/\/\S+\/(?:invite|reset)#token=[^\s<>"]+/g) ?? [];
}

// A link with a button that copies it and says so; without a clipboard, the link is selected
// for copying by hand.
function copyLink(link) {
  const code = h('code', { class: 'secret' }, link);
  const status = h('span', { class: 'copied', role: 'status' });
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(link);
      status.textContent = t('outbox.copied');
    } catch {
      getSelection()?.selectAllChildren(code);
      status.textContent = t('outbox.copy_failed');
    }
  };
  return h('div', { class: 'actions copy-link' }, code, h('button', { type: 'button', class: 'secondary', onclick: copy }, t('outbox.copy_link')), status);
}

export async function auditView(main) {
  const body = h('tbody', {});
  const more = h('button', { type: 'button', class: 'secondary' }, t('audit.more'));
  const headers = ['audit.when', 'audit.who', 'audit.action', 'audit.target', 'audit.detail'].map((k) => h('th', { scope: 'col' }, t(k)));
  let before = null;
  const load = async () => {
    const entries = await get(`/audit?limit=50${before ? `&before=${before}` : ''}`);
    body.append(...entries.map((entry) => h('tr', {}, h('td', { class: 'nowrap' }, formatTime(entry.at, language())), h('td', {}, entry.actor.email, h('div', { class: 'muted' }, entry.actor.address)), h('td', {}, has(`action.${entry.action}`) ? t(`action.${entry.action}`) : h('code', {}, entry.action)), h('td', {}, entry.target), h('td', {}, entry.detail))));
    before = entries.length ? entries[entries.length - 1].id : before;
    more.hidden = entries.length < 50;
  };
  more.addEventListener('click', load);
  const list = tableCard(h('table', {}, h('thead', {}, h('tr', {}, headers)), body), t('audit.title'));
  replace(main, pageHead(t('audit.title'), { label: t('common.refresh'), onclick: () => auditView(main) }), list, h('div', { class: 'actions' }, more));
  await load();
}
