// Live updates are applied in place (issue 14): with the conversations page open, customer
// messages, new conversations, a take and a finalize update the list and the waiting section
// without the page reading the conversations list again, and what the person typed and ticked
// stays. The list pages with "Show more" / "Mostrar más", keeping the rows already shown.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser } from './server.mjs';
import { Desk, until } from './desk.mjs';

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

// How many times the page reads a list of conversations (GET /api/v1/conversations?…).
function countListReads(page) {
  const counter = { reads: [] };
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (request.method() === 'GET' && url.pathname === '/api/v1/conversations') counter.reads.push(url.search);
  });
  return counter;
}

// The previews of the list's rows, top to bottom, and of the waiting section's.
const listed = (page) => page.locator('.ws-list .conv-item .preview').allTextContents();
const waitingPreviews = (page) => page.getByTestId('waiting').locator('.waiting-entry .preview').allTextContents();

const same = (expected) => async (page, read) => {
  const got = await read(page);
  return JSON.stringify(got) === JSON.stringify(expected) || got;
};

test('live events update the list and the waiting section in place; the draft and the note box stay', async () => {
  const ana = await desk.staff({ first: 'Ana', email: 'ana@example.com', roles: ['agent'], capacity: 2 });
  const sergio = await desk.staff({ first: 'Sergio', email: 'sergio@example.com', roles: ['supervisor'] });
  const bruno = await desk.staff({ first: 'Bruno', email: 'bruno@example.com', roles: ['agent'], permissions: ['dispenser'], capacity: 3 });
  // Bruno takes only what he chooses: once his page's "accept" has landed, he stops accepting.
  const available = async (who) => (await desk.api('GET', '/agents')).find((agent) => agent.id === who.user.id).available;
  await until('Bruno accepts', async () => (await available(bruno)) === true || 'not yet');
  await bruno.api('PUT', '/me/availability', { available: false });
  await until('Bruno does not', async () => (await available(bruno)) === false || 'still accepting');
  await until('Ana accepts', async () => (await available(ana)) === true || 'not yet');
  const a = await desk.customer('Alba', 'Hola, soy Alba');
  const b = await desk.customer('Beto', 'Hola, soy Beto');
  assert.equal(a.status, 'assigned');
  const page = ana.page;
  await until('Ana lists her two', () => same(['Hola, soy Beto', 'Hola, soy Alba'])(page, listed));
  await until('Sergio lists both', () => same(['Hola, soy Beto', 'Hola, soy Alba'])(sergio.page, listed));
  // Ana opens Alba's, writes a draft and ticks "internal note".
  await page.locator('.conv-item', { hasText: 'Hola, soy Alba' }).click();
  await page.getByTestId('messages').getByText('Hola, soy Alba').waitFor();
  const draft = page.getByRole('textbox', { name: 'Write a reply' });
  await draft.fill('Un borrador que no se pierde');
  const note = page.getByLabel('Internal note (the customer does not see it)');
  await note.check();
  // The sockets opened and their first reload is done: from here on, nothing reads a list.
  await page.waitForTimeout(1000);
  const anaReads = countListReads(page);
  const sergioReads = countListReads(sergio.page);

  // Ana is full: two new customers wait, in order.
  const c = await desk.customer('Cora', 'Hola, soy Cora');
  await desk.customer('Dani', 'Hola, soy Dani');
  assert.equal(c.status, 'queued');
  for (const who of [page, sergio.page]) await until('both wait', () => same(['Hola, soy Cora', 'Hola, soy Dani'])(who, waitingPreviews));
  await until('Sergio lists the waiting ones too', () => same(['Hola, soy Dani', 'Hola, soy Cora', 'Hola, soy Beto', 'Hola, soy Alba'])(sergio.page, listed));
  // Customers write again: rows move up with their new preview; a waiting one's preview changes in place.
  await desk.customer('Beto', 'Beto otra vez');
  await desk.customer('Cora', 'Cora otra vez');
  await until('Ana: Beto moved up', () => same(['Beto otra vez', 'Hola, soy Alba'])(page, listed));
  await until('Ana: Cora still first in line', () => same(['Cora otra vez', 'Hola, soy Dani'])(page, waitingPreviews));
  await until('Sergio: in order', () => same(['Cora otra vez', 'Beto otra vez', 'Hola, soy Dani', 'Hola, soy Alba'])(sergio.page, listed));
  // Bruno takes Cora: she leaves both waiting sections; Sergio sees her as Bruno's.
  const taken = await bruno.api('POST', `/conversations/${c.id}/take`);
  assert.equal(taken.assignee.name, 'Bruno Prueba');
  for (const who of [page, sergio.page]) await until('Cora taken', () => same(['Hola, soy Dani'])(who, waitingPreviews));
  await sergio.page.locator('.conv-item', { hasText: 'Cora otra vez' }).getByText('Bruno Prueba').waitFor({ timeout: 5000 });
  // Sergio finalizes Beto's: it leaves Ana's list, and Dani, routed to her free slot, joins it.
  await sergio.api('POST', `/conversations/${b.id}/finalize`, {});
  await until('Ana: Beto gone, Dani hers', () => same(['Hola, soy Dani', 'Hola, soy Alba'])(page, listed));
  await until('nobody waits', () => same([])(page, waitingPreviews));
  await page.getByTestId('waiting').getByText('Nobody is waiting.').waitFor();
  await until('Sergio: Beto gone', () => same(['Cora otra vez', 'Hola, soy Dani', 'Hola, soy Alba'])(sergio.page, listed));
  await until('Sergio: nobody waits', () => same([])(sergio.page, waitingPreviews));
  // Alba writes into the open conversation: the message shows, her row goes first.
  await desk.customer('Alba', 'Alba sigue aquí');
  await page.getByTestId('messages').getByText('Alba sigue aquí').waitFor({ timeout: 5000 });
  await until('Ana: Alba first', () => same(['Alba sigue aquí', 'Hola, soy Dani'])(page, listed));

  assert.equal(await draft.inputValue(), 'Un borrador que no se pierde', 'the draft stayed');
  assert.equal(await note.isChecked(), true, 'the note box stayed ticked');
  assert.deepEqual(anaReads.reads, [], 'Ana’s page read no list');
  assert.deepEqual(sergioReads.reads, [], 'Sergio’s page read no list');
  assert.deepEqual([...ana.problems, ...sergio.problems], []);
});

test('past a page, "Show more" / "Mostrar más" loads the next one and keeps the rows shown', async () => {
  for (let n = 0; n < 55; n += 1) await desk.customer(`m${n}`, `Mensaje ${n}`);
  const all = await desk.api('GET', '/conversations?limit=200');
  assert.ok(all.length > 50 && all.length <= 100, `${all.length} open`);
  const admin = desk.admin;
  await admin.goto(`${server.base}/conversations`);
  const rows = admin.locator('.ws-list .conv-item');
  await until('a first page', async () => (await rows.count()) === 50 || (await rows.count()));
  await admin.getByRole('button', { name: 'Show more' }).waitFor();
  // In Spanish, the same button.
  await desk.api('PATCH', '/me', { language: 'es' });
  await admin.reload();
  await until('a first page again', async () => (await rows.count()) === 50 || (await rows.count()));
  const first = await rows.first().getAttribute('data-conversation');
  await admin.getByRole('button', { name: 'Mostrar más' }).click();
  await until('every row', async () => (await rows.count()) === all.length || (await rows.count()));
  const ids = await rows.evaluateAll((nodes) => nodes.map((node) => Number(node.dataset.conversation)));
  assert.deepEqual(ids, all.map((conversation) => conversation.id), 'each once, in the server’s order');
  assert.equal(await rows.first().getAttribute('data-conversation'), first, 'the first page stayed');
  assert.equal(await admin.getByRole('button', { name: 'Mostrar más' }).count(), 0, 'no more pages');
  // A conversation from the second page writes: it moves to the top, shown once.
  await desk.customer('m0', 'm0 escribe otra vez');
  await until('m0 first', async () => (await rows.first().locator('.preview').textContent()) === 'm0 escribe otra vez' || 'not yet');
  assert.equal(await rows.count(), all.length);
  await desk.api('PATCH', '/me', { language: 'en' });
});
