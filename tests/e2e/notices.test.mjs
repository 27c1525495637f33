// The profile's e-mail notices in a real browser: both switches say what they do (es and en),
// and what is ticked is saved and shown again after a reload.
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

test('the profile explains and keeps the e-mail notices, in English and Spanish', async () => {
  const { page, problems } = await openPage(browser, 'en-US');
  await page.goto(server.setupLink);
  await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat the password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Save password and sign in' }).click();
  await page.waitForURL('**/conversations');
  await page.getByRole('link', { name: 'Profile' }).click();

  const notices = page.getByRole('group', { name: 'E-mail notices' });
  const mine = notices.getByLabel('When a conversation is assigned to me');
  const queue = notices.getByLabel('When a conversation waits in the queue of one of my groups');
  assert.equal(await mine.isChecked(), false);
  assert.equal(await queue.isChecked(), false);
  const text = await notices.textContent();
  assert.match(text, /A mail to admin@localhost when routing, a transfer or a supervisor gives you a conversation \(not when you take one yourself\)/);
  assert.match(text, /At most one mail per conversation a minute/);
  assert.match(text, /starts waiting in a group you belong to/);

  await mine.check();
  await page.getByRole('button', { name: 'Save' }).first().click();
  await page.getByText('Saved').first().waitFor();
  const me = await page.evaluate(async () => (await fetch('/api/v1/me')).json());
  assert.deepEqual([me.notify_assignments, me.notify_group_queue], [true, false]);

  // In Spanish (the session only: the first page's language stays with it), after a fresh load.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'es-ES', storageState: { cookies: (await page.context().storageState()).cookies, origins: [] } });
  const spanish = await context.newPage();
  await spanish.goto(`${server.base}/profile`);
  const avisos = spanish.getByRole('group', { name: 'Avisos por correo' });
  assert.equal(await avisos.getByLabel('Cuando se me asigne una conversación').isChecked(), true, 'saved');
  assert.equal(await avisos.getByLabel('Cuando una conversación espere en la cola de uno de mis grupos').isChecked(), false);
  assert.match(await avisos.textContent(), /Como mucho un correo por conversación por minuto/);
  await context.close();
  assert.deepEqual(problems, []);
});
