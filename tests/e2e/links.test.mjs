// The link a notice mail carries (/conversations#conversation=N) opens that conversation, also
// for someone who must sign in first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage } from './server.mjs';
import { Desk, PASSWORD } from './desk.mjs';

let server;
let browser;
let desk;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  desk = await new Desk(server, browser).open();
});

after(async () => {
  desk?.close();
  await browser?.close();
  await server?.stop();
});

test("a notice mail's link opens its conversation, after sign-in if need be", async () => {
  await desk.customer('first@example.com', 'the first one');
  const wanted = await desk.customer('second@example.com', 'the one in the mail');
  const link = `${server.base}/conversations#conversation=${wanted.id}`;

  await desk.admin.goto(link);
  await desk.admin.getByRole('log').getByText('the one in the mail').waitFor();

  const { page, problems } = await openPage(browser, 'en-US');
  await page.goto(link);
  await page.waitForURL('**/login');
  await page.getByLabel('E-mail').fill('admin@localhost');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('log').getByText('the one in the mail').waitFor();
  assert.match(page.url(), new RegExp(`/conversations#conversation=${wanted.id}$`));
  assert.deepEqual(problems, []);
});
