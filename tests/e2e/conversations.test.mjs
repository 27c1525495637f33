// The heart of the product in a real browser: a visitor writes from the web widget on another
// site, an available agent sees the unread dot and gets the alert, replies, and the visitor sees
// it live; with the agent at capacity a second visitor waits in line and is assigned the moment
// the agent finalizes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startServer, launchBrowser, openPage } from './server.mjs';

const PASSWORD = 'a long enough password';
let server;
let browser;
let shop;
let channelKey = '';

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  // A shop's own site, on another origin, that adds the one <script> tag.
  shop = createServer((request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(`<!doctype html><html><body><h1>Tienda de ejemplo</h1><script src="${server.base}/widget.js" data-channel="${channelKey}" async></script></body></html>`);
  });
  await new Promise((resolve) => shop.listen(0, '127.0.0.1', resolve));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  shop?.close();
});

async function setPassword(page, link) {
  await page.goto(link);
  await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat the password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Save password and sign in' }).click();
  await page.waitForURL('**/conversations');
}

// Calls the API from the signed-in page, as the UI itself does.
function apiFrom(page) {
  return (method, path, body) =>
    page.evaluate(async ([method, path, body]) => {
      const me = await (await fetch('/api/v1/me')).json();
      const response = await fetch(`/api/v1${path}`, {
        method,
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token },
        body: body ? JSON.stringify(body) : undefined,
      });
      return response.status === 204 ? null : response.json();
    }, [method, path, body]);
}

async function visitorPage() {
  const { page, problems } = await openPage(browser, 'en-US');
  await page.goto(`http://127.0.0.1:${shop.address().port}/`);
  await page.getByRole('button', { name: 'Chat with us' }).click();
  return { page, problems };
}

async function write(visitor, text) {
  await visitor.getByRole('textbox', { name: 'Write your message…' }).fill(text);
  await visitor.getByRole('button', { name: 'Send' }).click();
}

test('a visitor and an agent chat live, and a waiting visitor is served when a slot frees', async () => {
  const { page: admin } = await openPage(browser, 'en-US');
  await setPassword(admin, server.setupLink);
  const api = apiFrom(admin);
  const agent = await api('POST', '/users', { first_name: 'Ana', last_name: 'Ruiz', email: 'ana@example.com', roles: ['agent'], language: 'en' });
  await api('PATCH', `/agents/${agent.id}`, { capacity: 1 });
  // The administrator creates the widget channel on its screen and reads the snippet there.
  await admin.getByRole('link', { name: 'Channels' }).click();
  await admin.getByLabel('Name').fill('Tienda');
  await admin.getByRole('button', { name: 'Create channel' }).click();
  const snippet = await admin.getByTestId('snippet').textContent();
  channelKey = snippet.match(/data-channel="([^"]+)"/)[1];
  // Renamed on the same screen: the card shows the new name, the key stays.
  await admin.getByRole('button', { name: 'Edit' }).click();
  await admin.locator('form[data-channel-form]:not([data-channel-form="new"])').getByLabel('Name').fill('Tienda online');
  await admin.getByRole('button', { name: 'Save' }).click();
  await admin.getByRole('heading', { name: /^Tienda online/ }).waitFor();
  assert.equal((await api('GET', '/channels'))[0].name, 'Tienda online');
  assert.ok((await admin.getByTestId('snippet').textContent()).includes(channelKey));
  const outbox = await api('GET', '/outbox');
  const link = outbox.find((mail) => mail.to === 'ana@example.com').body.match(/https:\/\/\S+\/invite#token=\S+/)[0].replace(/^https:\/\/[^/]+/, server.base);

  const { page: desk, problems: deskProblems } = await openPage(browser, 'en-US');
  await setPassword(desk, link);
  await desk.getByLabel('Accept new conversations').check();
  await desk.waitForTimeout(300);

  const first = await visitorPage();
  await write(first.page, 'Hola, quiero información');
  await desk.getByTestId('unread-dot').waitFor();
  assert.ok(await desk.evaluate(() => window.centralitaAlerts) >= 1, 'the new-message alert was raised');
  await desk.locator('.conv-item').first().click();
  await desk.getByTestId('messages').getByText('Hola, quiero información').waitFor();
  await desk.getByRole('textbox', { name: 'Write a reply' }).fill('¡Hola! ¿En qué te ayudo?');
  await desk.getByRole('button', { name: 'Send' }).click();
  await first.page.getByText('¡Hola! ¿En qué te ayudo?').waitFor({ timeout: 5000 });

  // The agent is at capacity (1): the second visitor waits, first in line.
  const second = await visitorPage();
  await write(second.page, 'Necesito ayuda con mi pedido');
  await second.page.getByText('You are number 1 in line').waitFor({ timeout: 5000 });

  await desk.getByRole('button', { name: 'Finalize' }).click();
  await desk.getByRole('dialog', { name: 'Finalize this conversation?' }).getByRole('button', { name: 'Finalize' }).click();
  await desk.locator('.conv-item', { hasText: 'Necesito ayuda con mi pedido' }).waitFor({ timeout: 5000 });
  await second.page.getByText('You are number 1 in line').waitFor({ state: 'hidden', timeout: 5000 });

  // The first visitor, whose chat ended, writes again: a new conversation, their message shown,
  // and they wait (the agent is busy with the second visitor).
  await first.page.getByText('This chat has ended').waitFor({ timeout: 5000 });
  await write(first.page, 'Otra pregunta más');
  await first.page.getByText('Otra pregunta más').waitFor({ timeout: 5000 });
  await first.page.getByText('You are number 1 in line').waitFor({ timeout: 5000 });
  assert.deepEqual([...deskProblems, ...first.problems, ...second.problems], []);
});
