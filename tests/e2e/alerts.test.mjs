// "Assigned to you" alerts: a tone and a desktop notification when a conversation is given to the
// agent by routing (at once or from the queue), by a colleague's transfer or by a supervisor —
// exactly one each, however many events say it — and none for the one she takes herself with
// "Take the next one".
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

const alerts = (page) => page.evaluate(() => ({ count: window.centralitaAlerts, notifications: window.notifications }));

// Waits for the count to reach `expected`, then a little more to catch any second alert.
async function expectAlerts(page, expected, why) {
  await page.waitForFunction((n) => window.centralitaAlerts >= n, expected, { timeout: 5000 }).catch(() => null);
  await page.waitForTimeout(1200);
  const { count } = await alerts(page);
  assert.equal(count, expected, why);
}

test('an agent is alerted once per conversation assigned to her, not for the one she took', async () => {
  const ana = await desk.staff({ first: 'Ana', email: 'ana@example.com', roles: ['agent'], permissions: ['dispenser'], notifications: true });
  const agent = ana.page;
  await expectAlerts(agent, 0, 'nothing yet');

  // Routing: a new customer is given to Ana, the only agent accepting.
  const first = await desk.customer('c1', 'Primera consulta');
  await agent.locator('.conv-item', { hasText: 'Primera consulta' }).waitFor();
  await expectAlerts(agent, 1, 'one alert for a conversation routed to her (not one more for its first message)');
  let { notifications } = await alerts(agent);
  assert.equal(notifications[0].title, 'A conversation was assigned to you');
  assert.equal(notifications[0].body, 'Primera consulta');

  // Bruno takes the next customers while Ana does not accept new ones, then transfers one to her.
  const bruno = await desk.staff({ first: 'Bruno', email: 'bruno@example.com', roles: ['agent'], permissions: ['transfer'] });
  await agent.getByLabel('Accept new conversations').uncheck();
  await agent.waitForTimeout(300);
  const second = await desk.customer('c2', 'Segunda consulta');
  const third = await desk.customer('c3', 'Tercera consulta');
  assert.equal((await desk.api('GET', `/conversations/${second.id}`)).assignee.id, bruno.user.id);
  await agent.getByLabel('Accept new conversations').check();
  await agent.waitForTimeout(300);
  await expectAlerts(agent, 1, 'conversations given to Bruno do not alert Ana');
  const transferred = await bruno.api('POST', `/conversations/${second.id}/transfer`, { agent_id: ana.user.id });
  assert.equal(transferred.assignee.id, ana.user.id, JSON.stringify(transferred));
  await expectAlerts(agent, 2, 'one alert for a transfer to her');

  // A supervisor (here the administrator) assigns Bruno's other conversation to Ana.
  const assigned = await desk.api('POST', `/conversations/${third.id}/assign`, { agent_id: ana.user.id });
  assert.equal(assigned.assignee.id, ana.user.id, JSON.stringify(assigned));
  await expectAlerts(agent, 3, 'one alert for a supervisor’s assignment');

  // In manual mode a waiting customer is hers only by her click: no alert for that.
  await desk.api('PATCH', `/agents/${ana.user.id}`, { mode: 'manual' });
  await bruno.page.getByLabel('Accept new conversations').uncheck();
  await bruno.page.waitForTimeout(300);
  const waiting = await desk.customer('c4', 'Cuarta consulta');
  assert.equal((await desk.api('GET', `/conversations/${waiting.id}`)).status, 'queued');
  await agent.getByRole('button', { name: 'Take the next one' }).click();
  await agent.getByTestId('messages').getByText('Cuarta consulta').waitFor();
  await expectAlerts(agent, 3, 'no alert for the conversation she took herself');

  // From the queue: a customer waits while nobody accepts; Ana accepting again is given her.
  await agent.getByLabel('Accept new conversations').uncheck();
  await desk.api('PATCH', `/agents/${ana.user.id}`, { mode: 'automatic' });
  await agent.waitForTimeout(300);
  const queued = await desk.customer('c5', 'Quinta consulta');
  assert.equal((await desk.api('GET', `/conversations/${queued.id}`)).status, 'queued');
  await expectAlerts(agent, 3, 'a customer waiting in line is nobody’s yet');
  await agent.getByLabel('Accept new conversations').check();
  await expectAlerts(agent, 4, 'one alert when the queue gives her the waiting customer');

  ({ notifications } = await alerts(agent));
  assert.deepEqual(notifications.map((n) => n.title), Array(4).fill('A conversation was assigned to you'));
  assert.deepEqual(notifications.map((n) => n.tag), [first, second, third, queued].map((c) => `conversation-${c.id}`));
  assert.deepEqual([...ana.problems, ...bruno.problems], []);
});
