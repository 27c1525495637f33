// Accessibility (issue 22): axe-core finds no serious or critical violation on any screen, in
// Spanish and English, light and dark: signing in, the e-mailed links, the agent's workspace in
// each of its states (nothing open, a conversation with its note and labels, the side panel
// collapsed, the waiting line, the agents table, the phone's list and conversation), every admin
// screen with its forms and dialogs, the profile, the phone's menu, toasts and the not-found page.
// On each, the page's language is the one chosen, there is one h1 and the window's title names
// the screen. One browser, one server, one page per person; each screen is drawn once per language
// and checked in both schemes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launchBrowser, openPage } from './server.mjs';
import { seedDesk } from './seed.mjs';
import { violations, describe } from './axe.mjs';

const web = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
const words = Object.fromEntries(['es', 'en'].map((lang) => [lang, JSON.parse(readFileSync(join(web, 'i18n', `${lang}.json`), 'utf8'))]));
const LANGUAGES = ['es', 'en'];
const SCHEMES = ['light', 'dark'];
const DESKTOP = { width: 1366, height: 768 };
const PHONE = { width: 390, height: 844 };

let server;
let browser;
let desk;
let agent;
let supervisor;
let visitor;
let inviteLink;
const problems = [];

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  ({ desk, agent, other: supervisor } = await seedDesk(server, browser));
  // Lucía stops accepting, so the next customers wait in line for the waiting section.
  await agent.api('PUT', '/me/availability', { available: false });
  await supervisor.api('PUT', '/me/availability', { available: false });
  await desk.customer('Elena Castro', '¿Abrís el sábado?');
  await desk.customer('Fernando Ríos', 'Necesito una factura del pedido 10480.');
  await agent.api('POST', '/me/tokens', { name: 'Integración ERP' });
  const outbox = await desk.api('GET', '/outbox');
  inviteLink = outbox.find((mail) => mail.to === 'pilar@example.com').body.match(/https:\/\/\S+\/invite#token=\S+/)[0].replace(/^https:\/\/[^/]+/, server.base);
  const opened = await openPage(browser, 'es-ES');
  visitor = opened.page;
  problems.push(opened.problems);
});

after(async () => {
  desk?.close();
  await browser?.close();
  await server?.stop();
});

// The person's language, saved on their account as the language menu does (or, signed out, on
// this browser), once per person and language.
const languageOf = new Map();
async function choose(page, language, signedIn) {
  if (languageOf.get(page) === language) return;
  if (!signedIn && !page.url().startsWith(server.base)) await page.goto(`${server.base}/login`);
  await page.evaluate(async ([language, signedIn]) => {
    if (signedIn) {
      const me = await (await fetch('/api/v1/me')).json();
      await fetch('/api/v1/me', { method: 'PATCH', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token }, body: JSON.stringify({ language }) });
    }
    localStorage.setItem('language', language);
  }, [language, signedIn]);
  languageOf.set(page, language);
}

// The page loaded afresh at desktop size in that language, and drawn.
async function load(page, path, language, { signedIn = true } = {}) {
  await page.setViewportSize(DESKTOP);
  await choose(page, language, signedIn);
  // A link that differs only in its #fragment would not load the page again.
  if (page.url() === `${server.base}${path}`) await page.goto('about:blank');
  await page.goto(`${server.base}${path}`);
  await page.locator('#main h1').first().waitFor();
}

// What a person (or a screen reader) is told about the page as a whole, then axe in each scheme.
async function check(page, screen, language) {
  const found = [];
  const shape = await page.evaluate(() => ({
    lang: document.documentElement.lang,
    h1: [...document.querySelectorAll('h1')].filter((h) => h.getClientRects().length).map((h) => h.textContent),
    title: document.title,
  }));
  if (shape.lang !== language) found.push(`<html lang="${shape.lang}">, not ${language}`);
  if (shape.h1.length !== 1) found.push(`${shape.h1.length} h1 shown: ${JSON.stringify(shape.h1)}`);
  const title = `${words[language][screen.title]} · centralita`;
  if (shape.title !== title) found.push(`title «${shape.title}», not «${title}»`);
  for (const scheme of SCHEMES) {
    await page.emulateMedia({ colorScheme: scheme });
    const seen = await violations(page);
    if (seen.length) found.push(`${scheme}:\n${describe(seen)}`);
  }
  await page.emulateMedia({ colorScheme: null });
  return found.map((line) => `${screen.name} (${language}) ${line}`);
}

const agentPage = () => agent.page;
const supervisorPage = () => supervisor.page;
const adminPage = () => desk.admin;
const visitorPage = () => visitor;

async function openConversation(page, name = 'Alba Ruiz') {
  await page.locator('.ws-list .conv-item', { hasText: name }).first().click();
  await page.getByTestId('messages').getByText(name === 'Alba Ruiz' ? 'Cliente habitual' : 'pedido').first().waitFor();
}

async function sideShown(page, shown) {
  const collapsed = await page.locator('.ws').evaluate((ws) => ws.classList.contains('side-collapsed'));
  if (collapsed === shown) await page.locator('.ws-main [data-ws-side-toggle]').first().click();
  await page.locator('.ws-side').waitFor({ state: shown ? 'visible' : 'hidden' });
}

async function toastFromTheUi(page) {
  const lang = await page.evaluate(() => document.documentElement.lang);
  // The UI's own toast module, at the versioned address the page loaded it from.
  await page.evaluate(async ([ok, error]) => {
    const { toast } = await import(new URL('ui.js', document.querySelector('script[type="module"]').src).href);
    toast(ok, { kind: 'ok' });
    toast(error, { kind: 'error' });
  }, ['users.invite_resent', 'error.internal'].map((key) => words[lang][key].replace('{email}', 'pilar@example.com')));
  await page.locator('.toast.error').waitFor();
}

// Each screen: its name, who looks at it, where, the message key of its title, and what is done
// on it before looking (a form opened, a dialog shown, the window made narrow).
const screens = [
  { name: 'sign-in', who: visitorPage, path: '/login', title: 'nav.login', signedOut: true },
  { name: 'forgot password', who: visitorPage, path: '/forgot', title: 'auth.forgot_title', signedOut: true },
  { name: 'set password (invite link)', who: visitorPage, path: () => inviteLink.slice(server.base.length), title: 'auth.invite_title', signedOut: true,
    ready: (page) => page.locator('input[name="password"]').waitFor() },
  { name: 'not found', who: visitorPage, path: '/no-such-page', title: 'notfound.title', signedOut: true },
  { name: 'workspace, nothing open', who: agentPage, path: '/conversations', title: 'nav.conversations',
    ready: (page) => page.locator('.ws-list .conv-item', { hasText: 'David Moreno' }).waitFor() },
  { name: 'workspace, a conversation open with its side panel', who: agentPage, path: '/conversations', title: 'nav.conversations',
    ready: async (page) => {
      await openConversation(page);
      await sideShown(page, true);
      await page.locator('.ws-side').getByText('vip').first().waitFor();
    } },
  { name: 'workspace, side panel collapsed', who: agentPage, path: '/conversations', title: 'nav.conversations',
    ready: async (page) => {
      await openConversation(page);
      await sideShown(page, false);
    },
    after: (page) => sideShown(page, true) },
  { name: 'workspace, the waiting line (overseer)', who: supervisorPage, path: '/conversations', title: 'nav.conversations',
    ready: (page) => page.getByTestId('waiting').getByText('Fernando Ríos').first().waitFor() },
  { name: 'workspace, the agents table (overseer)', who: supervisorPage, path: '/conversations', title: 'nav.conversations',
    ready: async (page) => {
      await page.locator('.ws-agents-toggle').click();
      await page.getByTestId('agents-table').getByText('lucia@example.com').or(page.getByTestId('agents-table').getByText('Lucía')).first().waitFor();
    } },
  { name: 'phone, the list', who: agentPage, path: '/conversations', title: 'nav.conversations',
    ready: async (page) => {
      await page.setViewportSize(PHONE);
      await page.locator('.ws-list .conv-item', { hasText: 'David Moreno' }).waitFor();
    } },
  { name: 'phone, a conversation', who: agentPage, path: '/conversations', title: 'nav.conversations',
    ready: async (page) => {
      await page.setViewportSize(PHONE);
      await openConversation(page);
      await page.locator('.ws-main [data-ws-back]').waitFor();
    } },
  { name: 'phone, the menu open', who: adminPage, path: '/admin/users', title: 'nav.users',
    ready: async (page) => {
      await page.setViewportSize(PHONE);
      await page.locator('#menu-toggle').click();
      await page.locator('#nav a').first().waitFor();
    } },
  { name: 'users', who: adminPage, path: '/admin/users', title: 'nav.users', ready: (page) => page.getByText('pilar@example.com').first().waitFor() },
  { name: 'users, the new-user form', who: adminPage, path: '/admin/users', title: 'nav.users',
    ready: async (page) => {
      await page.locator('.page-head .page-actions button').last().click();
      await page.locator('form.card-form input[name="first_name"]').waitFor();
    } },
  { name: 'users, editing one', who: adminPage, path: '/admin/users', title: 'nav.users',
    ready: async (page) => {
      await page.locator('tr[data-email="pilar@example.com"] button').first().click();
      await page.locator('form.card-form input[name="first_name"]').waitFor();
    } },
  { name: 'users, the confirm dialog', who: adminPage, path: '/admin/users', title: 'nav.users',
    ready: async (page) => {
      await page.locator('tr[data-email="pilar@example.com"] button.danger').click();
      await page.locator('dialog[open]').waitFor();
    },
    after: async (page) => {
      await page.keyboard.press('Escape');
      await page.locator('dialog').waitFor({ state: 'detached' });
    } },
  { name: 'a toast', who: adminPage, path: '/admin/users', title: 'nav.users', ready: toastFromTheUi },
  { name: 'groups', who: adminPage, path: '/admin/groups', title: 'nav.groups', ready: (page) => page.getByText('Soporte técnico').first().waitFor() },
  { name: 'channels, with one being edited', who: adminPage, path: '/admin/channels', title: 'nav.channels',
    ready: async (page) => {
      await page.getByTestId('snippet').waitFor();
      await page.locator('section[data-channel] .actions button').first().click();
      await page.locator('form[data-channel-form]:not([data-channel-form="new"])').waitFor();
    } },
  { name: 'rules', who: adminPage, path: '/admin/rules', title: 'nav.rules' },
  { name: 'outbox', who: adminPage, path: '/admin/outbox', title: 'nav.outbox', ready: (page) => page.getByText('lucia@example.com').first().waitFor() },
  { name: 'audit', who: adminPage, path: '/admin/audit', title: 'nav.audit' },
  { name: 'profile, tokens', who: agentPage, path: '/profile', title: 'nav.profile', ready: (page) => page.getByText('Integración ERP').first().waitFor() },
  { name: 'profile, setting up two-factor login', who: agentPage, path: '/profile', title: 'nav.profile',
    ready: async (page) => {
      await page.getByRole('button', { name: words[await page.evaluate(() => document.documentElement.lang)]['profile.totp_setup'] }).click();
      await page.getByTestId('totp-qr').waitFor();
    } },
];

test('no serious or critical accessibility violation on any screen, es and en, light and dark; lang, one h1, a title', async () => {
  const started = Date.now();
  const found = [];
  let checked = 0;
  for (const language of LANGUAGES) {
    for (const screen of screens) {
      const page = screen.who();
      const path = typeof screen.path === 'function' ? screen.path() : screen.path;
      await load(page, path, language, { signedIn: !screen.signedOut });
      if (screen.ready) await screen.ready(page);
      found.push(...(await check(page, screen, language)));
      if (screen.after) await screen.after(page);
      checked += SCHEMES.length;
    }
  }
  console.log(`axe: ${screens.length} screens, ${checked} checks in ${Math.round((Date.now() - started) / 1000)} s`);
  assert.equal(found.length, 0, `\n${found.join('\n')}`);
  assert.deepEqual(problems.flat(), []);
});
