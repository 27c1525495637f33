// What a person types, ticks and chooses survives every live update. An agent writing an
// internal note while other customers write keeps note mode (it shows: the notes' colour and a
// "Send note" button) and Enter stores a note the visitor never sees; a supervisor's transfer
// target, assign picker and force box, and where they scrolled to, stay as they were.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser } from './server.mjs';
import { Desk, write } from './desk.mjs';

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

const NOTE = 'Cliente difícil: no ofrecer el descuento todavía';

test('note mode survives live updates and Enter stores a note the visitor never sees', async () => {
  const ana = await desk.staff({ first: 'Ana', email: 'ana@example.com', roles: ['agent'] });
  const agent = ana.page;
  const visitor = await desk.visitor();
  await write(visitor.page, 'Hola, soy la clienta A');
  await agent.locator('.conv-item', { hasText: 'Hola, soy la clienta A' }).click();
  await agent.getByTestId('messages').getByText('Hola, soy la clienta A').waitFor();
  const opened = await ana.api('GET', '/conversations?assignee=me');
  const conversationA = opened.find((c) => c.last_preview === 'Hola, soy la clienta A');
  // The conversation's number is in its header (administrators use it for the rules dry-run).
  assert.equal(await agent.getByTestId('conversation-id').textContent(), `#${conversationA.id}`);

  const box = agent.getByLabel('Internal note (the customer does not see it)');
  const text = agent.getByRole('textbox', { name: 'Write a reply' });
  assert.ok(await agent.getByRole('button', { name: 'Send', exact: true }).isVisible());
  await box.check();
  await text.fill(NOTE);
  // Note mode is unmistakable: the button says so and the composer wears the notes' colour.
  await agent.getByRole('button', { name: 'Send note' }).waitFor();
  const colour = await text.evaluate((node) => getComputedStyle(node).backgroundColor);
  assert.equal(colour, 'rgb(255, 248, 197)', 'the textarea wears the notes’ colour');

  // A second customer writes five times: messages, list changes and panel figures arrive live.
  for (let n = 1; n <= 5; n += 1) {
    await desk.customer('cliente-b', `Mensaje ${n} de B`);
    await agent.waitForTimeout(250);
  }
  await agent.locator('.conv-item', { hasText: 'Mensaje 5 de B' }).waitFor();
  await agent.waitForTimeout(1500);
  assert.equal(await box.isChecked(), true, 'the note box is still ticked');
  assert.equal(await text.inputValue(), NOTE, 'the text is intact');
  assert.ok(await agent.getByRole('button', { name: 'Send note' }).isVisible(), 'the button still says Send note');
  assert.equal(await agent.getByRole('button', { name: 'Send', exact: true }).count(), 0);
  assert.ok(await text.evaluate((node) => node === document.activeElement), 'the focus stays in the text');

  await text.press('Enter');
  await agent.getByTestId('messages').locator('.bubble.note', { hasText: NOTE }).waitFor();
  const messages = await ana.api('GET', `/conversations/${conversationA.id}/messages`);
  const stored = messages.find((m) => m.text === NOTE);
  assert.equal(stored?.private, true, 'the message was stored as an internal note');

  // A reply after the note reaches the visitor, and the note never does.
  await box.uncheck();
  await agent.getByRole('button', { name: 'Send', exact: true }).waitFor();
  await text.fill('Ya te ayudo');
  await text.press('Enter');
  await visitor.page.getByText('Ya te ayudo').waitFor({ timeout: 5000 });
  assert.equal(await visitor.page.getByText(NOTE).count(), 0, 'the visitor never sees the note');
  assert.deepEqual([...ana.problems, ...visitor.problems], []);
});

test('a supervisor’s transfer target, assign picker, force box and scroll survive live updates', async () => {
  const bruno = await desk.staff({ first: 'Bruno', email: 'bruno@example.com', roles: ['agent'] });
  const carla = await desk.staff({ first: 'Carla', email: 'carla@example.com', roles: ['agent'] });
  const sergio = await desk.staff({ first: 'Sergio', email: 'sergio@example.com', roles: ['supervisor'] });
  const supervisor = sergio.page;
  let conversation;
  for (let n = 1; n <= 16; n += 1) conversation = await desk.customer('cliente-larga', `Línea ${n} de una historia larga`);
  await supervisor.reload();
  await supervisor.locator('.conv-item', { hasText: 'Línea 16 de una historia larga' }).click();
  const log = supervisor.getByTestId('messages');
  await log.getByText('Línea 16 de una historia larga').waitFor();
  const transferTo = supervisor.getByLabel('Transfer to');
  const assignTo = supervisor.getByLabel('Assign to');
  const force = supervisor.getByLabel('even if full');
  // Picks that are not the first option, so a redraw would show.
  const targets = await transferTo.locator('option').evaluateAll((options) => options.map((o) => o.value));
  const target = targets[targets.length - 1];
  assert.ok(targets.length >= 2 && target !== targets[0], `several transfer targets: ${targets}`);
  await transferTo.selectOption(target);
  const agents = await assignTo.locator('option').evaluateAll((options) => options.map((o) => o.value));
  const chosen = agents[agents.length - 1];
  assert.ok(agents.length >= 2 && chosen !== agents[0], `several agents to assign to: ${agents}`);
  await assignTo.selectOption(chosen);
  await force.check();
  // Reading older messages: scrolled to the top.
  await log.evaluate((node) => (node.scrollTop = 0));

  // Others write: messages, loads and figures move live.
  for (let n = 1; n <= 3; n += 1) await desk.customer(`otro-${n}`, `Otro cliente ${n}`);
  await desk.customer('cliente-larga', 'Línea 17 de una historia larga');
  await log.getByText('Línea 17 de una historia larga').waitFor();
  await supervisor.waitForTimeout(1500);
  assert.equal(await transferTo.inputValue(), target, 'the transfer target stays');
  assert.equal(await assignTo.inputValue(), chosen, 'the assign picker stays');
  assert.equal(await force.isChecked(), true, 'the force box stays ticked');
  assert.ok(await log.evaluate((node) => node.scrollTop) < 10, 'someone reading older messages is not yanked down');

  // At the bottom, a new message keeps them at the bottom.
  await log.evaluate((node) => (node.scrollTop = node.scrollHeight));
  await desk.customer('cliente-larga', 'Línea 18 de una historia larga');
  await log.getByText('Línea 18 de una historia larga').waitFor();
  await supervisor.waitForTimeout(300);
  const gap = await log.evaluate((node) => node.scrollHeight - node.scrollTop - node.clientHeight);
  assert.ok(gap < 5, `at the bottom after a new message (${gap}px above it)`);
  assert.ok(conversation.id > 0);
  assert.deepEqual([...bruno.problems, ...carla.problems, ...sergio.problems], []);
});

test('older messages come in pages of 20, stay through live updates, and keep the reader’s place', async () => {
  for (let n = 1; n <= 45; n += 1) await desk.customer('historia', `Historia ${n}`);
  const admin = desk.admin;
  await admin.goto(`${server.base}/conversations`);
  await admin.locator('.conv-item', { hasText: 'Historia 45' }).click();
  const log = admin.getByTestId('messages');
  await log.getByText('Historia 45', { exact: true }).waitFor();
  const bubbles = log.locator('.bubble:not(.activity)');
  const older = log.getByRole('button', { name: 'Show older messages' });
  assert.equal(await bubbles.count(), 20);
  assert.equal(await bubbles.first().locator('div').textContent(), 'Historia 26');
  // Where the first shown message sits, to check the page does not jump when older ones arrive.
  const place = () => log.evaluate((node) => {
    const bubble = [...node.querySelectorAll('.bubble')].find((b) => b.lastChild.textContent === 'Historia 26');
    return Math.round(bubble.getBoundingClientRect().top - node.getBoundingClientRect().top);
  });
  await log.evaluate((node) => (node.scrollTop = 0));
  const was = await place();
  await older.click();
  await log.getByText('Historia 6', { exact: true }).waitFor();
  assert.equal(await bubbles.count(), 40);
  assert.ok(Math.abs((await place()) - was) < 5, 'the messages being read stay in place');

  // A live message keeps the older pages loaded.
  await desk.customer('historia', 'Historia 46');
  await log.getByText('Historia 46', { exact: true }).waitFor();
  assert.equal(await bubbles.count(), 41);
  assert.ok(await older.isVisible(), 'more to load');
  await older.click();
  await log.getByText('Historia 1', { exact: true }).waitFor();
  assert.equal(await bubbles.count(), 46);
  assert.equal(await older.count(), 0, 'no button once the first message is shown');
});
