// The administrator's Rules screen in a real browser: each file's state and hooks, a compile
// error with its line and column, counters that move when a rule runs, and a dry run against a
// conversation picked from a list that shows what would happen and changes nothing, with its
// errors in the user's language.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launchBrowser, openPage } from './server.mjs';

const PASSWORD = 'a long enough password';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const rulesDir = mkdtempSync(join(tmpdir(), 'centralita-rules-'));
let server;
let browser;

before(async () => {
  writeFileSync(join(rulesDir, 'broken.rhai'), 'fn on_message(c, m) {\n    #{reply: }\n}\n');
  server = await startServer({ args: ['--rules-dir', rulesDir] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(rulesDir, { recursive: true, force: true });
});

test('the Rules screen shows files, errors and counters, and dry-runs a conversation', async () => {
  const { page, problems } = await openPage(browser, 'en-US');
  await page.goto(server.setupLink);
  await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat the password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Save password and sign in' }).click();
  await page.waitForURL('**/conversations');

  // A customer writes through an API channel before any working rule exists.
  const written = await page.evaluate(async () => {
    const me = await (await fetch('/api/v1/me')).json();
    const headers = { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token };
    const channel = await (await fetch('/api/v1/channels', { method: 'POST', headers, body: JSON.stringify({ kind: 'api', name: 'Tienda' }) })).json();
    const sent = await fetch(`/api/v1/channels/${channel.id}/messages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${channel.token}` },
      body: JSON.stringify({ contact: { identifier: 'lucia' }, text: '¿Qué precio tiene?' }),
    });
    return sent.json();
  });
  const conversationId = written.conversation.id;
  writeFileSync(join(rulesDir, 'auto_reply.rhai'), readFileSync(join(root, 'rules', 'examples', 'auto_reply.rhai')));
  writeFileSync(join(rulesDir, 'failing.rhai'), 'fn on_message(c, m) {\n    m.nope.x\n}\n');

  await page.getByRole('link', { name: 'Rules' }).click();
  await page.waitForURL('**/admin/rules');
  const broken = page.locator('[data-file="broken.rhai"]');
  await broken.waitFor();
  assert.match(await broken.textContent(), /Error at line 2, column \d+:/);
  assert.match(await broken.textContent(), /no effect until it compiles/);
  // The new file appears within 2 s of being written; refresh until it does.
  const autoReply = page.locator('[data-file="auto_reply.rhai"]');
  for (let i = 0; i < 30 && !(await autoReply.count()); i++) {
    await page.waitForTimeout(200);
    await page.getByRole('button', { name: 'Refresh' }).click();
  }
  await autoReply.waitFor();
  assert.match(await autoReply.locator('.badge').textContent(), /OK/);
  assert.equal(await autoReply.locator('tr[data-hook="on_message"] td').nth(1).textContent(), '0');

  // The dry run picks from the newest conversations, named by number, contact and channel.
  const picker = page.getByLabel('Conversation', { exact: true });
  await page.getByRole('button', { name: 'Try', exact: true }).click();
  assert.equal(await page.locator('[data-field="conversation_id"] .error').textContent(), 'Choose a conversation from the list.');
  const option = picker.locator(`option[value="${conversationId}"]`);
  assert.equal(await option.textContent(), `#${conversationId} · Visitor · Tienda · Waiting`);
  await picker.selectOption(String(conversationId));
  await page.getByRole('button', { name: 'Try', exact: true }).click();
  const result = page.locator('#dry-run-result');
  await result.locator('.on-message').waitFor();
  const text = await result.textContent();
  // A hook that fails at run time says where, in the file it names.
  assert.match(await result.locator('li', { hasText: 'failing.rhai' }).textContent(), /failing\.rhai: Error at line 2, column \d+: /);
  assert.match(text, /With the message «¿Qué precio tiene\?»/);
  assert.match(text, /Would reply: Puede consultar nuestros precios/);
  assert.match(text, /Label: precio/);
  assert.match(text, /nothing was sent or changed/);

  // The dry run counted nothing and sent nothing.
  const reloaded = page.waitForResponse((response) => response.url().endsWith('/api/v1/rules'));
  await page.getByRole('button', { name: 'Refresh' }).click();
  await (await reloaded).finished();
  await page.waitForTimeout(100);
  assert.equal(await autoReply.locator('tr[data-hook="on_message"] td').nth(1).textContent(), '0');
  const messages = await page.evaluate(async (id) => (await fetch(`/api/v1/conversations/${id}/messages`)).json(), conversationId);
  assert.equal(messages.length, 1);

  // A conversation gone from the server: the error is told by its code, in the user's language.
  await picker.evaluate((select) => select.add(new Option('#424242', '424242')));
  await picker.selectOption('424242');
  await page.getByRole('button', { name: 'Try', exact: true }).click();
  await page.getByText('There is no such conversation.').waitFor();
  assert.equal(await result.textContent(), '');

  // The same screen in Spanish (the session only: the language the first page chose stays there).
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'es-ES', storageState: { cookies: (await page.context().storageState()).cookies, origins: [] } });
  const spanish = await context.newPage();
  await spanish.goto(`${server.base}/admin/rules`);
  const selector = spanish.getByLabel('Conversación', { exact: true });
  await selector.locator(`option[value="${conversationId}"]`).waitFor({ state: 'attached' });
  assert.equal(await selector.locator(`option[value="${conversationId}"]`).textContent(), `#${conversationId} · Visitante · Tienda · En espera`);
  await spanish.getByRole('button', { name: 'Probar', exact: true }).click();
  assert.equal(await spanish.locator('[data-field="conversation_id"] .error').textContent(), 'Elige una conversación de la lista.');
  await selector.evaluate((select) => select.add(new Option('#424242', '424242')));
  await selector.selectOption('424242');
  await spanish.getByRole('button', { name: 'Probar', exact: true }).click();
  await spanish.getByText('Esa conversación no existe.').waitFor();
  await selector.selectOption(String(conversationId));
  await spanish.getByRole('button', { name: 'Probar', exact: true }).click();
  await spanish.locator('#dry-run-result .on-message').waitFor();
  assert.match(await spanish.locator('#dry-run-result li', { hasText: 'failing.rhai' }).textContent(), /Error en la línea 2, columna \d+/);
  await context.close();
  assert.deepEqual(problems, []);
});
