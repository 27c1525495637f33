// The small promises of the UI, as a person sees them: wait figures in seconds under a minute,
// the green dot on a new conversation, an unsaved cap kept in the agents table (whose loads move
// from the socket's agents.changed, not by reading the agents again), number and URL inputs styled like the others, a "copy
// link" button next to each invite link in the Outbox (and why a link left its mail, the warning before
// someone else's reset link, its reading in the audit log), the Spanish note button.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser } from './server.mjs';
import { Desk } from './desk.mjs';

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

const figure = (page, label) => page.getByTestId('panel-figures').locator('.figure', { hasText: label }).locator('strong');

test('a wait under a minute shows in seconds, the new-conversation dot is green, notes in Spanish', async () => {
  const admin = desk.admin;
  await admin.goto(`${server.base}/conversations`);
  // A customer waits a few seconds in line before an agent is there to take her.
  await desk.customer('espera', 'Hola, ¿hay alguien?');
  await admin.waitForTimeout(2500);
  const ana = await desk.staff({ first: 'Ana', email: 'ana@example.com', roles: ['agent'] });
  const dot = ana.page.getByTestId('unread-dot');
  await dot.waitFor();
  assert.equal(await dot.evaluate((node) => getComputedStyle(node).backgroundColor), 'rgb(45, 164, 78)', 'the dot is green');
  await admin.waitForFunction(() => /^[1-9]\d? s$/.test(document.querySelector('[data-testid="panel-figures"] .figure:nth-child(2) strong')?.textContent ?? ''), null, { timeout: 5000 });
  const longest = await figure(admin, 'Longest wait').textContent();
  assert.match(longest, /^[1-9]\d? s$/, `seconds under a minute, not "0 min": ${longest}`);
  assert.match(await figure(admin, 'Average wait').textContent(), /^\d+ s$/);
  // An administrator's half-typed cap in the agents table survives the table's live redraws. The
  // table shows in the workspace's middle pane from the strip's "Agents" button.
  await admin.getByRole('button', { name: 'Agents' }).click();
  const row = admin.getByTestId('agents-table').locator('tr', { hasText: 'Ana Prueba' });
  await row.getByText('1 / 5').waitFor();
  await row.getByLabel("Own cap (empty: group's or 6)").fill('3');
  // The row moves from the socket's agents.changed: the page does not read the agents again.
  let agentReads = 0;
  const countAgents = (request) => { if (new URL(request.url()).pathname === '/api/v1/agents') agentReads += 1; };
  admin.on('request', countAgents);
  await desk.customer('otra', 'Otra consulta');
  await row.getByText('2 / 5').waitFor();
  await admin.waitForTimeout(1500);
  admin.off('request', countAgents);
  assert.equal(agentReads, 0, 'no GET /api/v1/agents for a load that moved');
  assert.equal(await row.getByLabel("Own cap (empty: group's or 6)").inputValue(), '3', 'the typed cap is still there');
  // The module the page runs (from its versioned prefix), not a second copy by another URL.
  const minutes = await admin.evaluate(async () => (await import(new URL('views/conversations.js', document.querySelector('script[type="module"]').src))).waitText(3 * 60_000 + 10_000));
  assert.equal(minutes, '3 min');

  // In Spanish: the same figures, and the note button says so.
  await admin.locator('#language').selectOption('es');
  await admin.getByRole('heading', { name: 'Conversaciones', exact: true }).waitFor();
  assert.match(await figure(admin, 'Espera máxima').textContent(), /^[1-9]\d? s$/);
  await admin.locator('.conv-item', { hasText: 'Hola, ¿hay alguien?' }).click();
  await admin.getByRole('button', { name: 'Enviar', exact: true }).waitFor();
  await admin.getByLabel('Nota interna (el cliente no la ve)').check();
  await admin.getByRole('button', { name: 'Enviar nota' }).waitFor();
  await admin.locator('#language').selectOption('en');
  await admin.getByRole('heading', { name: 'Conversations', exact: true }).waitFor();
  assert.deepEqual(ana.problems, []);
});

test('number, URL and other inputs are styled like text inputs', async () => {
  const styles = await desk.admin.evaluate(() => {
    const look = (type) => {
      const input = document.createElement('input');
      input.type = type;
      document.body.append(input);
      const style = getComputedStyle(input);
      const seen = [style.borderRadius, style.borderTopColor, style.paddingLeft, style.fontFamily].join(' | ');
      input.remove();
      return seen;
    };
    return Object.fromEntries(['text', 'number', 'url', 'email', 'password', 'search', 'tel'].map((type) => [type, look(type)]));
  });
  for (const [type, seen] of Object.entries(styles)) assert.equal(seen, styles.text, `input[type=${type}] looks like a text input`);
});

test('the Outbox has a copy button next to each invite link, and says it copied', async () => {
  const admin = desk.admin;
  await admin.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.base });
  await desk.api('POST', '/users', { first_name: 'Luis', last_name: 'Prueba', email: 'luis@example.com', roles: ['agent'], language: 'es' });
  await admin.goto(`${server.base}/admin/outbox`);
  const mail = admin.locator('details[data-to="luis@example.com"]').first();
  await mail.locator('summary').click();
  const body = await mail.locator('pre').textContent();
  const link = body.match(/https:\/\/\S+\/invite#token=\S+/)[0];
  const row = mail.locator('.copy-link');
  assert.equal(await row.locator('code').textContent(), link, 'the link is shown next to its button');
  await row.getByRole('button', { name: 'Copy link' }).click();
  await row.getByText('Copied').waitFor();
  assert.equal(await admin.evaluate(() => navigator.clipboard.readText()), link);
  // In Spanish too.
  await admin.locator('#language').selectOption('es');
  await admin.getByRole('heading', { name: 'Correo saliente' }).waitFor();
  const again = admin.locator('details[data-to="luis@example.com"]').first();
  await again.locator('summary').click();
  await again.getByRole('button', { name: 'Copiar enlace' }).click();
  await again.getByText('Copiado').waitFor();
  await admin.locator('#language').selectOption('en');
  await admin.getByRole('heading', { name: 'Outbox' }).waitFor();
});

test('the Outbox says why a link left its mail, warns before someone else\'s reset link, and the audit log shows the reading', async () => {
  const admin = desk.admin;
  await desk.staff({ first: 'Rosa', email: 'rosa@example.com', roles: ['agent'] });
  await desk.api('POST', '/auth/password/forgot', { email: 'rosa@example.com' });
  await admin.goto(`${server.base}/admin/outbox`);
  await admin.getByRole('heading', { name: 'Outbox' }).waitFor();
  const [reset, invite] = [0, 1].map((n) => admin.locator('details[data-to="rosa@example.com"]').nth(n));
  await invite.locator('summary').getByText('Link used').waitFor();
  await invite.locator('summary').click();
  assert.equal(await invite.getByRole('button', { name: 'Copy link' }).count(), 0, 'a used link has nothing to copy');
  assert.match(await invite.locator('pre').textContent(), /\[link removed: it has been used\]/);
  await reset.locator('summary').click();
  await reset.getByText('This password-reset link opens someone else\'s account').waitFor();
  assert.match(await reset.locator('.copy-link code').textContent(), /\/reset#token=rs_/);
  await admin.goto(`${server.base}/admin/audit`);
  const row = admin.locator('tr', { hasText: 'Read someone else\'s password-reset link in the outbox' }).first();
  await row.waitFor();
  assert.match(await row.textContent(), /admin@localhost.*rosa@example\.com/s);
  await admin.locator('#language').selectOption('es');
  await admin.locator('tr', { hasText: 'Leyó en el correo saliente el enlace para restablecer la contraseña de otra persona' }).first().waitFor();
  await admin.goto(`${server.base}/admin/outbox`);
  await admin.locator('details[data-to="rosa@example.com"]').nth(1).locator('summary').getByText('Enlace ya usado').waitFor();
  await admin.locator('#language').selectOption('en');
  await admin.getByRole('heading', { name: 'Outbox' }).waitFor();
});
