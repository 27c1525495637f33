// Screenshots as a check (issue 22): every main screen in Spanish and English, light and dark,
// desktop (1366×768) and phone (390×844), saved as target/screenshots/<screen>-<lang>-<scheme>-<device>.png
// for a reviewer to look at, over a help desk with realistic data (conversations with replies, an
// internal note and labels; agents, groups, channels, mail in the outbox, an audit trail).
// With UPDATE_README_SCREENSHOT=1 it also writes the README's picture of the agent's workspace,
// tests/e2e/readme/agent-workspace.png. One browser; each screen is loaded once per language and
// then redrawn for each scheme and size, so the 72 pictures take well under a minute.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launchBrowser, openPage } from './server.mjs';
import { seedDesk } from './seed.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const OUT = join(here, '..', '..', 'target', 'screenshots');
const README_SHOT = join(here, 'readme', 'agent-workspace.png');
const LANGUAGES = ['es', 'en'];
const SCHEMES = ['light', 'dark'];
const DEVICES = { desktop: { width: 1366, height: 768 }, phone: { width: 390, height: 844 } };

let server;
let browser;
let desk;
let agent;

before(async () => {
  mkdirSync(OUT, { recursive: true });
  server = await startServer();
  browser = await launchBrowser();
  ({ desk, agent } = await seedDesk(server, browser));
});

after(async () => {
  desk?.close();
  await browser?.close();
  await server?.stop();
});

// Each screen: where it is, who looks at it, and when it is drawn.
const screens = [
  { name: 'conversations', path: '/conversations', who: () => agent.page, ready: openFirstConversation },
  { name: 'users', path: '/admin/users', who: () => desk.admin, ready: (page) => page.getByText('pilar@example.com').first().waitFor() },
  { name: 'groups', path: '/admin/groups', who: () => desk.admin, ready: (page) => page.getByText('Soporte técnico').first().waitFor() },
  { name: 'channels', path: '/admin/channels', who: () => desk.admin, ready: (page) => page.getByText('Integración').first().waitFor() },
  { name: 'rules', path: '/admin/rules', who: () => desk.admin },
  { name: 'outbox', path: '/admin/outbox', who: () => desk.admin, ready: (page) => page.getByText('lucia@example.com').first().waitFor() },
  { name: 'audit', path: '/admin/audit', who: () => desk.admin },
  { name: 'profile', path: '/profile', who: () => agent.page },
];

async function openFirstConversation(page) {
  await page.locator('.conv-item', { hasText: 'Alba Ruiz' }).first().click();
  await page.getByTestId('messages').getByText('Cliente habitual').waitFor();
}

// The person's language, saved on their account as the language menu does, then the page loaded.
async function load(page, path, language) {
  await page.evaluate(async (language) => {
    const me = await (await fetch('/api/v1/me')).json();
    await fetch('/api/v1/me', { method: 'PATCH', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token }, body: JSON.stringify({ language }) });
    localStorage.setItem('language', language);
  }, language);
  await page.goto(`${server.base}${path}`);
  await page.locator('#main h1').first().waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), language);
}

// The page in every scheme and size, one picture each.
async function shoot(page, name, language, ready) {
  const files = [];
  for (const scheme of SCHEMES) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const [device, size] of Object.entries(DEVICES)) {
      await page.setViewportSize(size);
      // Let the page lay itself out for the new size first: the top bar folds its links from a
      // ResizeObserver, after the first layout at the new width (before which it is wider).
      await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
      if (ready && device === 'desktop' && scheme === 'light') await ready(page);
      const file = join(OUT, `${name}-${language}-${scheme}-${device}.png`);
      await page.screenshot({ path: file, fullPage: true, animations: 'disabled', caret: 'hide' });
      files.push({ file, width: size.width });
    }
  }
  return files;
}

test('every main screen is saved in es and en, light and dark, desktop and phone', async () => {
  const started = Date.now();
  const saved = [];
  // Signing in, as someone signed out sees it.
  const { context, page: signedOut, problems } = await openPage(browser, 'es-ES');
  for (const language of LANGUAGES) {
    await signedOut.goto(`${server.base}/login`);
    await signedOut.evaluate((language) => localStorage.setItem('language', language), language);
    await signedOut.reload();
    await signedOut.locator('#main h1').first().waitFor();
    saved.push(...(await shoot(signedOut, 'signin', language)));
  }
  await context.close();
  for (const screen of screens) {
    const page = screen.who();
    for (const language of LANGUAGES) {
      await load(page, screen.path, language);
      saved.push(...(await shoot(page, screen.name, language, screen.ready)));
    }
    await page.setViewportSize(DEVICES.desktop);
    await page.emulateMedia({ colorScheme: null });
  }
  if (process.env.UPDATE_README_SCREENSHOT === '1') {
    const page = agent.page;
    mkdirSync(dirname(README_SHOT), { recursive: true });
    await load(page, '/conversations', 'en');
    await page.setViewportSize(DEVICES.desktop);
    await openFirstConversation(page);
    await page.screenshot({ path: README_SHOT, animations: 'disabled', caret: 'hide' });
    console.log(`README screenshot: ${README_SHOT}`);
  }
  assert.equal(saved.length, (screens.length + 1) * LANGUAGES.length * SCHEMES.length * Object.keys(DEVICES).length);
  for (const { file, width } of saved) {
    assert.ok(statSync(file).size > 2000, `${file} is a picture`);
    // As wide as the window: nothing sticks out sideways (the PNG header holds the width).
    assert.equal(readFileSync(file).readUInt32BE(16), width, `${file} is ${width} px wide`);
  }
  assert.deepEqual(problems, []);
  console.log(`screenshots: ${saved.length} in ${OUT} (${Math.round((Date.now() - started) / 1000)} s)`);
});
