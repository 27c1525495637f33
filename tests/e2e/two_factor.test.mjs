// Two-factor login and a new password in a real browser (issue 13, findings 1 and 6): turning it
// on asks for the password; the reset page asks for the code before it signs in, as the sign-in
// form does; turning it off asks for the password and a code; a password change can revoke the
// API tokens. In English, then the reset page in Spanish.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { startServer, launchBrowser, openPage } from './server.mjs';

const PASSWORD = 'a long enough password';
const NEW_PASSWORD = 'a brand new password';
let server;
let browser;
let admin;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  ({ page: admin } = await openPage(browser, 'en-US'));
  await setPassword(admin, server.setupLink, 'Save password and sign in');
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function setPassword(page, link, save) {
  await page.goto(link);
  await page.locator('input[name=password]').fill(PASSWORD);
  await page.locator('input[name=confirm]').fill(PASSWORD);
  await page.getByRole('button', { name: save }).click();
  await page.waitForURL('**/conversations');
}

// The administrator's side, through the API from her signed-in page: not what this test is about.
async function api(page, method, path, body) {
  return page.evaluate(async ({ method, path, body }) => {
    const me = await (await fetch('/api/v1/me')).json();
    const headers = { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token };
    const response = await fetch(`/api/v1${path}`, { method, headers, body: body && JSON.stringify(body) });
    return response.json();
  }, { method, path, body });
}

// The newest link of `kind` mailed to `email`, as the outbox shows it, on the server's address.
async function mailedLink(email, kind) {
  const outbox = await api(admin, 'GET', '/outbox');
  const pattern = new RegExp(`https://\\S+/${kind}#token=\\S+`);
  const mail = outbox.find((mail) => mail.to === email && pattern.test(mail.body));
  return mail.body.match(pattern)[0].replace(/^https:\/\/[^/]+/, server.base);
}

async function newAgent(page, email, language) {
  const created = await api(admin, 'POST', '/users', { first_name: 'Test', last_name: 'Agent', email, roles: ['agent'], language });
  assert.equal(created.email, email);
  await setPassword(page, await mailedLink(email, 'invite'), language === 'es' ? 'Guardar contraseña e ingresar' : 'Save password and sign in');
}

// What an authenticator app shows now for a base32 secret (RFC 6238: HMAC-SHA1, 30 s, 6 digits).
function totpNow(base32) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const char of base32) bits += alphabet.indexOf(char).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000)));
  const digest = createHmac('sha1', key).update(counter).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  return String((digest.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

// Turns two-factor login on from the profile; the recovery codes it shows.
async function turnOn(page, texts) {
  await page.getByRole('link', { name: texts.profile }).click();
  const card = page.locator('section.card', { has: page.getByRole('heading', { name: texts.card }) });
  await card.getByRole('button', { name: texts.setUp }).click();
  const secret = await card.getByTestId('totp-secret').textContent();
  await card.getByLabel(texts.appCode).fill(totpNow(secret));
  await card.getByRole('button', { name: texts.turnOn }).click();
  // Without the password it does not turn on.
  await card.getByText(texts.passwordMissing).waitFor();
  await card.getByLabel(texts.currentPassword).fill(PASSWORD);
  await card.getByRole('button', { name: texts.turnOn }).click();
  await card.getByText(texts.on).waitFor();
  return (await card.getByTestId('recovery-codes').locator('li').allTextContents()).map((code) => code.trim());
}

async function forgot(page, email, texts) {
  await page.getByRole('button', { name: texts.signOut }).click();
  await page.getByRole('link', { name: texts.forgotLink }).click();
  await page.getByLabel(texts.email).fill(email);
  await page.getByRole('button', { name: texts.sendLink }).click();
  await page.getByText(texts.sent).waitFor();
}

// The reset page: the new password alone is not enough; it asks for the code, then signs in.
async function resetWithCode(page, link, code, texts) {
  await page.goto(link);
  await page.getByRole('heading', { name: texts.resetTitle }).waitFor();
  assert.equal(await page.getByLabel(texts.codeField).isVisible(), false, 'no code field until one is needed');
  assert.equal(await page.getByLabel(texts.revoke).isChecked(), true, 'a reset revokes the tokens unless unticked');
  await page.getByLabel(texts.newPassword, { exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel(texts.repeat).fill(NEW_PASSWORD);
  await page.getByRole('button', { name: texts.save }).click();
  await page.getByText(texts.codeMissing).waitFor();
  assert.equal(await page.getByLabel(texts.codeField).isVisible(), true);
  assert.match(page.url(), /\/reset#token=/, 'still on the reset page, not signed in');
  const me = await page.evaluate(async () => (await fetch('/api/v1/me')).status);
  assert.equal(me, 401, 'no session yet');
  await page.getByLabel(texts.codeField).fill(code);
  await page.getByRole('button', { name: texts.save }).click();
  await page.waitForURL('**/conversations');
}

const ENGLISH = {
  profile: 'Profile', card: 'Two-factor login', setUp: 'Set up two-factor login', appCode: 'Code from the app',
  currentPassword: 'Current password', turnOn: 'Turn on', on: 'Two-factor login is on.', passwordMissing: 'The current password is not right.',
  signOut: 'Sign out', forgotLink: 'Forgot your password?', email: 'E-mail', sendLink: 'Send me a link',
  sent: 'a link to choose a new password is on its way', resetTitle: 'Choose a new password', codeField: 'Two-factor code',
  revoke: 'Also revoke my API tokens', newPassword: 'New password', repeat: 'Repeat the password',
  save: 'Save password and sign in', codeMissing: 'Write the code from your authenticator app.',
};

const SPANISH = {
  profile: 'Perfil', card: 'Verificación en dos pasos', setUp: 'Activar verificación en dos pasos', appCode: 'Código de la app',
  currentPassword: 'Contraseña actual', turnOn: 'Activar', on: 'La verificación en dos pasos está activa.', passwordMissing: 'La contraseña actual no es correcta.',
  signOut: 'Cerrar sesión', forgotLink: '¿Olvidaste tu contraseña?', email: 'Correo electrónico', sendLink: 'Enviarme un enlace',
  sent: 'te enviamos un enlace para elegir una contraseña nueva', resetTitle: 'Elige una contraseña nueva', codeField: 'Código de verificación',
  revoke: 'Revocar también mis tokens de API', newPassword: 'Contraseña nueva', repeat: 'Repite la contraseña',
  save: 'Guardar contraseña e ingresar', codeMissing: 'Escribe el código de tu app de autenticación.',
};

test('a reset asks for the code, turning off asks for password and code, a change can revoke tokens', async () => {
  const { page, problems } = await openPage(browser, 'en-US');
  await newAgent(page, 'ana@example.com', 'en');
  const recovery = await turnOn(page, ENGLISH);
  await forgot(page, 'ana@example.com', ENGLISH);
  await resetWithCode(page, await mailedLink('ana@example.com', 'reset'), recovery[0], ENGLISH);

  // Turning it off: the password alone is not enough.
  await page.getByRole('link', { name: 'Profile' }).click();
  const card = page.locator('section.card', { has: page.getByRole('heading', { name: 'Two-factor login' }) });
  await card.getByText('Two-factor login is on.').waitFor();
  await card.getByLabel('Current password').fill(NEW_PASSWORD);
  await card.getByRole('button', { name: 'Turn off' }).click();
  await card.getByText('Write the code from your authenticator app.').waitFor();
  await card.getByLabel('Code from the app you use now').fill(recovery[1]);
  await card.getByRole('button', { name: 'Turn off' }).click();
  await card.getByRole('button', { name: 'Set up two-factor login' }).waitFor();

  // A password change revokes the API tokens when ticked, and the list says so.
  const tokens = page.locator('section.card', { has: page.getByRole('heading', { name: 'API tokens' }) });
  await tokens.getByLabel('Name of the new token').fill('reports');
  await tokens.getByRole('button', { name: 'Create token' }).click();
  await tokens.getByRole('cell', { name: 'reports' }).waitFor();
  const password = page.locator('form.card', { has: page.getByRole('heading', { name: 'Password' }) });
  assert.equal(await password.getByLabel('Also revoke my API tokens').isChecked(), false, 'a change keeps them unless ticked');
  await password.getByLabel('Current password').fill(NEW_PASSWORD);
  await password.getByLabel('New password').fill(PASSWORD);
  await password.getByLabel('Also revoke my API tokens').check();
  await password.getByRole('button', { name: 'Change password' }).click();
  await password.getByText('API tokens revoked: 1.').waitFor();
  await tokens.getByText('No tokens.').waitFor();
  assert.deepEqual(problems, []);
});

test('the reset page asks for the code in Spanish', async () => {
  const { page, problems } = await openPage(browser, 'es-ES');
  await newAgent(page, 'lucia@example.com', 'es');
  const recovery = await turnOn(page, SPANISH);
  await forgot(page, 'lucia@example.com', SPANISH);
  await resetWithCode(page, await mailedLink('lucia@example.com', 'reset'), recovery[0], SPANISH);
  await page.getByRole('heading', { name: 'Conversaciones' }).waitFor();
  assert.deepEqual(problems, []);
});
