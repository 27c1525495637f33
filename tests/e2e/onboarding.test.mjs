// The seed onboarding in a real browser: setup link → administrator → create an agent → the
// invite link from the outbox → the agent sets a password and lands on the conversations panel.
// Then the same for a Spanish-speaking agent, whose pages are in Spanish.
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

async function setPassword(page, link, texts) {
  await page.goto(link);
  await page.getByRole('heading', { name: texts.welcome }).waitFor();
  await page.getByLabel(texts.newPassword, { exact: true }).fill(PASSWORD);
  await page.getByLabel(texts.repeat).fill(PASSWORD);
  await page.getByRole('button', { name: texts.save }).click();
  await page.waitForURL('**/conversations');
}

async function createAgent(admin, first, email, language = 'en') {
  await admin.getByRole('link', { name: 'Users' }).click();
  await admin.getByRole('button', { name: 'New user' }).click();
  await admin.getByLabel('First name').fill(first);
  await admin.getByLabel('Last name').fill('Tester');
  await admin.getByLabel('E-mail').fill(email);
  await admin.getByLabel('Language of the invitation and of the screens').selectOption(language);
  await admin.getByLabel('Conversation agent').check();
  await admin.getByLabel('Conversation dispenser').check();
  await admin.getByRole('button', { name: 'Create and send invite' }).click();
  await admin.locator(`tr[data-email="${email}"]`).getByText('Invited', { exact: true }).waitFor();
  // The admin is told where the invitation waits.
  await admin.getByRole('status').filter({ hasText: `Invitation for ${email} created` }).waitFor();
}

async function inviteLinkFromOutbox(admin, email) {
  await admin.getByRole('link', { name: 'Open the Outbox' }).click();
  const mail = admin.locator(`details[data-to="${email}"]`).first();
  await mail.locator('summary').click();
  const body = await mail.locator('pre').textContent();
  const link = body.match(/https:\/\/\S+\/invite#token=\S+/)[0];
  return link.replace(/^https:\/\/[^/]+/, server.base);
}

const ENGLISH = { welcome: 'Welcome to centralita', newPassword: 'New password', repeat: 'Repeat the password', save: 'Save password and sign in' };
const SPANISH = { welcome: 'Bienvenido a centralita', newPassword: 'Contraseña nueva', repeat: 'Repite la contraseña', save: 'Guardar contraseña e ingresar' };

test('an administrator onboards an agent who lands on the conversations panel', async () => {
  const { page: admin, problems: adminProblems } = await openPage(browser, 'en-US');
  await setPassword(admin, server.setupLink, ENGLISH);
  await admin.getByRole('heading', { name: 'Conversations' }).waitFor();

  await createAgent(admin, 'Ana', 'ana@example.com');
  const link = await inviteLinkFromOutbox(admin, 'ana@example.com');

  const { page: agent, problems: agentProblems } = await openPage(browser, 'en-US');
  await setPassword(agent, link, ENGLISH);
  await agent.getByRole('heading', { name: 'Conversations' }).waitFor();
  await agent.getByTestId('panel-figures').getByText('Agents online').waitFor();
  await agent.getByText('No conversations yet').waitFor();
  assert.equal(await agent.getByRole('link', { name: 'Users' }).count(), 0, 'agents see no administration');
  assert.match(await agent.locator('#who').textContent(), /ana@example\.com/);

  // The used link now says so clearly.
  await agent.goto(link);
  await agent.getByText('This link has already been used').waitFor();

  // Back on the users list, the agent is active.
  await admin.getByRole('link', { name: 'Users' }).click();
  await admin.locator('tr[data-email="ana@example.com"]').getByText('Active', { exact: true }).waitFor();

  // Two-factor setup shows a QR code the browser can draw, beside the key to type.
  await agent.getByRole('link', { name: 'Profile' }).click();
  await agent.getByRole('button', { name: 'Set up two-factor login' }).click();
  const qr = agent.getByRole('img', { name: 'QR code for your authenticator app' });
  await qr.waitFor();
  assert.ok(await qr.evaluate((img) => img.complete && img.naturalWidth >= 200), 'the QR code image loaded');
  assert.match(await agent.getByTestId('totp-secret').textContent(), /^[A-Z2-7]{32}$/);
  assert.deepEqual([...adminProblems, ...agentProblems], []);
});

test('a Spanish-speaking agent gets the pages in Spanish', async () => {
  const { page: admin } = await openPage(browser, 'en-US');
  await admin.goto(`${server.base}/login`);
  assert.equal(await admin.getByLabel('Two-factor code').isVisible(), false, 'no code field until one is needed');
  await admin.getByLabel('E-mail').fill('admin@localhost');
  await admin.getByLabel('Password').fill(PASSWORD);
  await admin.getByRole('button', { name: 'Sign in' }).click();
  await admin.waitForURL('**/conversations');
  await createAgent(admin, 'Lucía', 'lucia@example.com', 'es');
  const link = await inviteLinkFromOutbox(admin, 'lucia@example.com');

  const { page: agent, problems } = await openPage(browser, 'es-ES');
  await setPassword(agent, link, SPANISH);
  await agent.getByRole('heading', { name: 'Conversaciones' }).waitFor();
  await agent.getByText('Aún no hay conversaciones').waitFor();
  assert.equal(await agent.locator('html').getAttribute('lang'), 'es');

  // Signing in again with a wrong password shows the Spanish message next to the form.
  await agent.getByRole('button', { name: 'Cerrar sesión' }).click();
  await agent.waitForURL('**/login');
  await agent.getByLabel('Correo electrónico').fill('lucia@example.com');
  await agent.getByLabel('Contraseña').fill('not the password');
  await agent.getByRole('button', { name: 'Ingresar' }).click();
  await agent.getByText('Correo o contraseña incorrectos.').waitFor();
  assert.deepEqual(problems, []);
});
