// An open panel follows the account: when an administrator deactivates the agent, or she signs
// out in another tab, her open conversations page goes to the sign-in page at once instead of
// staying on live updates it may no longer receive.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage } from './server.mjs';
import { Desk, write, setPassword, apiFrom, PASSWORD } from './desk.mjs';

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
  await desk.getByRole('status').getByText('Your session ended (signed out or password changed). Sign in again.').waitFor();

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
  await desk.getByRole('status').getByText('This account has been deactivated.').waitFor();
  // Said once: a reload shows the plain sign-in page.
  await desk.reload();
  await desk.getByRole('button', { name: 'Sign in' }).waitFor();
  assert.equal(await desk.getByText('This account has been deactivated.').count(), 0);
  assert.deepEqual(problems, []);
});

// One live connection too many: the server closes it with 4008 too_many_sockets, and the person
// reads why (in the staff panel and in the widget) instead of a page that silently stops updating.
test('a tab over the socket limit says so, in the staff panel and in the widget', async () => {
  process.env.CENTRALITA_HTTP_MAX_SOCKETS_PER_USER = '1';
  process.env.CENTRALITA_HTTP_MAX_SOCKETS_PER_VISITOR = '1';
  const limited = await startServer();
  delete process.env.CENTRALITA_HTTP_MAX_SOCKETS_PER_USER;
  delete process.env.CENTRALITA_HTTP_MAX_SOCKETS_PER_VISITOR;
  const desk = await new Desk(limited, browser).open();
  try {
    // The administrator's first tab holds her one socket; a second tab of hers is refused.
    const second = await desk.admin.context().newPage();
    const sockets = [];
    second.on('websocket', (socket) => sockets.push(socket));
    await second.goto(`${limited.base}/conversations`);
    const notice = second.getByTestId('socket-notice');
    await notice.waitFor({ timeout: 5000 });
    assert.equal(await notice.textContent(), 'Too many live connections open at once, yours or from your network. Close another tab or window and reload.');
    // It does not knock again every 3 s: one attempt in 4 s.
    await second.waitForTimeout(4000);
    assert.equal(sockets.length, 1, `${sockets.length} attempts`);
    assert.equal(await desk.admin.getByTestId('socket-notice').isHidden(), true, 'the first tab is live');

    // A visitor's first tab chats; her second tab of the same chat is refused and says so.
    const { context, page: visitor } = await desk.visitor();
    await write(visitor, 'hola');
    await visitor.getByText('hola').waitFor();
    const again = await context.newPage();
    await again.goto(`http://127.0.0.1:${desk.shop.address().port}/`);
    await again.getByText('This chat is open in too many tabs (or too many chats are open from your network); close one and replies will come here.').waitFor({ timeout: 5000 });
    assert.equal(await visitor.getByText('This chat is open in too many tabs').count(), 0, 'the first tab is live');
  } finally {
    desk.close();
    await limited.stop();
  }
});

// The HTTP idle timeout applies to sockets (a socket whose client sends nothing for it is closed
// with 1001), and an open page keeps its live connection: the browser answers the server's pings
// by itself. With a 2 s timeout, the panel and the widget stay live over 4 timeouts, then still
// hear each other at once.
test('the panel and the widget stay live under a short idle timeout', async () => {
  process.env.CENTRALITA_HTTP_IDLE_TIMEOUT_SECS = '2';
  const quick = await startServer();
  delete process.env.CENTRALITA_HTTP_IDLE_TIMEOUT_SECS;
  const desk = await new Desk(quick, browser).open();
  try {
    const ana = await desk.staff({ first: 'Ana', email: 'ana@example.com', roles: ['agent'] });
    const closed = [];
    const watch = (page, name) => page.on('websocket', (socket) => socket.on('close', () => closed.push(name)));
    watch(ana.page, 'panel');
    await ana.page.reload();
    await ana.page.getByLabel('Accept new conversations').waitFor();
    const { page: visitor } = await desk.visitor();
    watch(visitor, 'widget');
    await write(visitor, 'hola');
    await visitor.getByText('hola').waitFor();
    await ana.page.getByText('hola').first().waitFor({ timeout: 5000 });
    await visitor.waitForTimeout(8000);
    assert.deepEqual(closed, [], 'a live connection was closed');
    // Both still live (the widget polls only after its socket closed): each hears the other.
    const [mine] = await ana.api('GET', '/conversations?assignee=me');
    await ana.api('POST', `/conversations/${mine.id}/messages`, { text: 'Hola, ¿en qué te ayudo?' });
    await visitor.getByText('Hola, ¿en qué te ayudo?').waitFor({ timeout: 2000 });
    await write(visitor, 'quería saber el precio');
    await ana.page.getByText('quería saber el precio').first().waitFor({ timeout: 2000 });
    assert.deepEqual(closed, []);
  } finally {
    desk.close();
    await quick.stop();
  }
});
