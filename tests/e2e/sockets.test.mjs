// An open panel follows the account: when an administrator deactivates the agent, or she signs
// out in another tab, her open conversations page goes to the sign-in page at once instead of
// staying on live updates it may no longer receive.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage } from './server.mjs';

const PASSWORD = 'a long enough password';
let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function setPassword(page, link) {
  await page.goto(link);
  await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat the password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Save password and sign in' }).click();
  await page.waitForURL('**/conversations');
}

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

async function inviteLink(api, email) {
  const outbox = await api('GET', '/outbox');
  const body = outbox.find((mail) => mail.to === email).body;
  return body.match(/https:\/\/\S+\/invite#token=\S+/)[0].replace(/^https:\/\/[^/]+/, server.base);
}

test('a deactivated agent and one signed out elsewhere land on the sign-in page', async () => {
  const { page: admin } = await openPage(browser, 'en-US');
  await setPassword(admin, server.setupLink);
  const api = apiFrom(admin);
  const ana = await api('POST', '/users', { first_name: 'Ana', last_name: 'Ruiz', email: 'ana@example.com', roles: ['agent'], language: 'en' });
  const { context, page: desk, problems } = await openPage(browser, 'en-US');
  await setPassword(desk, await inviteLink(api, 'ana@example.com'));
  // Her panel is live (the agents table says she is online).
  await assert.doesNotReject(async () => {
    for (let tries = 0; tries < 50; tries += 1) {
      const agents = await api('GET', '/agents');
      if (agents.find((agent) => agent.id === ana.id)?.online) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('Ana never came online');
  });

  // Signed out from a second tab of the same browser: the first tab leaves the conversations.
  const other = await context.newPage();
  await other.goto(`${server.base}/conversations`);
  await other.evaluate(async () => {
    const me = await (await fetch('/api/v1/me')).json();
    await fetch('/api/v1/auth/logout', { method: 'POST', headers: { 'X-CSRF-Token': me.csrf_token } });
  });
  await desk.waitForURL('**/login', { timeout: 3000 });
  await desk.getByRole('button', { name: 'Sign in' }).waitFor();

  // Signed in again, then deactivated by the administrator: the same.
  await desk.getByLabel('E-mail').fill('ana@example.com');
  await desk.getByLabel('Password').fill(PASSWORD);
  await desk.getByRole('button', { name: 'Sign in' }).click();
  await desk.waitForURL('**/conversations');
  await desk.waitForTimeout(500);
  const started = Date.now();
  await api('PATCH', `/users/${ana.id}`, { active: false });
  await desk.waitForURL('**/login', { timeout: 3000 });
  assert.ok(Date.now() - started < 2000, `left after ${Date.now() - started} ms`);
  await desk.getByRole('button', { name: 'Sign in' }).waitFor();
  assert.deepEqual(problems, []);
});
