// Manual assignment in a real browser (issue 12, point 5): in a manual channel an agent with the
// dispenser sees who waits and takes one in two clicks (look, take), told what she took; an agent
// without it sees the same queue, read-only, and is told who can assign; at her cap she is told
// that she is full; "Take the next one" says when nothing waits. Transfers and takes leave lines.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage } from './server.mjs';
import { setPassword, apiFrom } from './desk.mjs';

let server;
let browser;
let adminPage;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});



async function agentPage(api, first, email, permissions) {
  await api('POST', '/users', { first_name: first, last_name: 'Test', email, roles: ['agent'], permissions, language: 'en' });
  const outbox = await api('GET', '/outbox');
  const link = outbox.find((mail) => mail.to === email).body.match(/https:\/\/\S+\/invite#token=\S+/)[0].replace(/^https:\/\/[^/]+/, server.base);
  const { page, problems } = await openPage(browser, 'en-US');
  await setPassword(page, link);
  return { page, problems };
}

test('in manual mode a dispenser takes a waiting conversation in two clicks; others see the queue and who can assign', async () => {
  const { page: admin } = await openPage(browser, 'en-US');
  adminPage = admin;
  await setPassword(admin, server.setupLink);
  const api = apiFrom(admin);
  const channel = await api('POST', '/channels', { kind: 'api', name: 'Tienda', mode: 'manual' });
  const bruno = await agentPage(api, 'Bruno', 'bruno@example.com', ['dispenser', 'transfer']);
  const carla = await agentPage(api, 'Carla', 'carla@example.com', []);
  const me = await apiFrom(bruno.page)('GET', '/me');
  const carlaId = (await apiFrom(carla.page)('GET', '/me')).id;
  await api('PATCH', `/agents/${me.id}`, { capacity: 1 });
  await api('POST', '/groups', { name: 'Solo Bruno', members: [me.id] });
  await api('POST', '/groups', { name: 'Todos', members: [me.id, carlaId] });
  for (const who of ['Lucía', 'Mario']) {
    await api('POST', `/channels/${channel.id}/messages`, { contact: { identifier: who, name: who }, text: `Hola, soy ${who}` }, channel.token);
  }

  // Carla, without the dispenser: the queue, read-only, and who can assign it.
  const carlaQueue = carla.page.getByTestId('waiting');
  await carlaQueue.getByText('Lucía', { exact: true }).waitFor({ timeout: 5000 });
  await carlaQueue.getByText('Hola, soy Mario').waitFor();
  await carlaQueue.getByText('A supervisor or an agent with the dispenser permission can assign these.').waitFor();
  assert.equal(await carlaQueue.getByRole('button', { name: /^Take/ }).count(), 0, 'no take button without the dispenser');

  // Bruno: look (the preview opens, read-only), then take.
  const queue = bruno.page.getByTestId('waiting');
  await queue.getByText('Hola, soy Lucía').click();
  await bruno.page.getByTestId('messages').getByText('Hola, soy Lucía').waitFor();
  assert.equal(await bruno.page.getByRole('textbox', { name: 'Write a reply' }).count(), 0, 'a preview, not yet his');
  await queue.getByRole('button', { name: 'Take Lucía' }).click();
  await queue.getByText('You took Lucía from the general queue.').waitFor({ timeout: 5000 });
  await bruno.page.getByRole('textbox', { name: 'Write a reply' }).waitFor();
  await bruno.page.getByTestId('messages').getByText('Bruno Test took it from the queue').waitFor();
  // Transfer offers no group that would send it straight back to him: not one only he serves,
  // nor Todos while Carla is not accepting conversations; once she takes work, Todos.
  const targets = bruno.page.locator('select[name="target"] option');
  assert.equal(await targets.filter({ hasText: 'Group: Todos' }).count(), 0, 'nobody else in Todos takes work now');
  await apiFrom(carla.page)('PUT', '/me/availability', { available: true });
  await targets.filter({ hasText: 'Group: Todos' }).waitFor({ state: 'attached', timeout: 5000 });
  assert.equal(await targets.filter({ hasText: 'Solo Bruno' }).count(), 0);
  assert.equal(await queue.getByText('Hola, soy Lucía').count(), 0, 'no longer waiting');
  await carlaQueue.getByText('Hola, soy Lucía').waitFor({ state: 'hidden', timeout: 5000 });

  // At his cap of 1, he is told that he is full.
  await queue.getByRole('button', { name: 'Take Mario' }).click();
  await queue.getByText('You are at your limit of 1 conversations; finalize one first.').waitFor({ timeout: 5000 });
  await bruno.page.getByRole('button', { name: 'Finalize' }).click();
  await bruno.page.getByRole('dialog', { name: 'Finalize this conversation?' }).getByRole('button', { name: 'Finalize' }).click();
  await bruno.page.getByRole('button', { name: 'Take the next one' }).click();
  await queue.getByText('You took Mario from the general queue.').waitFor({ timeout: 5000 });
  await bruno.page.getByRole('button', { name: 'Finalize' }).click();
  await bruno.page.getByRole('dialog', { name: 'Finalize this conversation?' }).getByRole('button', { name: 'Finalize' }).click();
  await bruno.page.getByRole('button', { name: 'Take the next one' }).click();
  await queue.getByText('Nothing is waiting.').waitFor({ timeout: 5000 });

  // Carla is given the dispenser while her page is open: what she typed stays, and she can take
  // conversations at once, without a reload.
  const carlaTakeNext = carla.page.getByRole('button', { name: 'Take the next one' });
  assert.equal(await carlaTakeNext.isVisible(), false);
  await api('POST', `/channels/${channel.id}/messages`, { contact: { identifier: 'Nora', name: 'Nora' }, text: 'Hola, soy Nora' }, channel.token);
  await carlaQueue.getByText('Hola, soy Nora').waitFor({ timeout: 5000 });
  await api('PATCH', `/users/${carlaId}`, { permissions: ['dispenser'] });
  await carlaTakeNext.waitFor({ timeout: 3000 });
  await carlaQueue.getByRole('button', { name: 'Take Nora' }).waitFor({ timeout: 3000 });
  assert.equal(await carlaQueue.getByTestId('who-assigns').count(), 0);
  await carlaQueue.getByRole('button', { name: 'Take Nora' }).click();
  await carlaQueue.getByText('You took Nora from the general queue.').waitFor({ timeout: 5000 });
  assert.deepEqual([...bruno.problems, ...carla.problems], []);
});

test('in Spanish, a supervisor sees the overflow of a full queue marked and counted', async () => {
  const admin = adminPage;
  const api = apiFrom(admin);
  await api('PATCH', '/me', { language: 'es' });
  const group = await api('POST', '/groups', { name: 'Ventas', members: [], rules: { max_queue: 1 } });
  const channel = await api('POST', '/channels', { kind: 'api', name: 'Ventas', mode: 'manual', group: group.id });
  for (const who of ['Olga', 'Pía']) {
    const answer = await api('POST', `/channels/${channel.id}/messages`, { contact: { identifier: who, name: who }, text: `Hola, soy ${who}` }, channel.token);
    assert.equal(answer.overflow, who === 'Pía', 'the second is past the limit of 1, and kept');
  }
  await admin.goto(`${server.base}/conversations`);
  const queue = admin.getByTestId('waiting');
  await queue.getByText('Hola, soy Pía').waitFor({ timeout: 5000 });
  await queue.getByText('En espera (2)').waitFor();
  assert.equal(await queue.getByTestId('overflow-badge').count(), 1, 'only the one past the limit is marked');
  await queue.getByText('fuera del límite de la cola').waitFor();
  await admin.getByTestId('panel-figures').getByText('Fuera del límite de la cola').waitFor();
});

test('a visitor writing to a full queue is told all agents are busy, in her language', async () => {
  const api = apiFrom(adminPage);
  const group = await api('POST', '/groups', { name: 'Tienda llena', members: [], rules: { max_queue: 1 } });
  const channel = await api('POST', '/channels', { kind: 'widget', name: 'Sitio', group: group.id });
  const { createServer } = await import('node:http');
  const shop = createServer((request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(`<!doctype html><html><body><script src="${server.base}/widget.js" data-channel="${channel.public_key}" async></script></body></html>`);
  });
  await new Promise((resolve) => shop.listen(0, '127.0.0.1', resolve));
  try {
    const visit = async (locale, open, placeholder, send, text) => {
      const { page, problems } = await openPage(browser, locale);
      await page.goto(`http://127.0.0.1:${shop.address().port}/`);
      await page.getByRole('button', { name: open }).click();
      await page.getByRole('textbox', { name: placeholder }).fill(text);
      await page.getByRole('button', { name: send }).click();
      return { page, problems };
    };
    const first = await visit('en-US', 'Chat with us', 'Write your message…', 'Send', 'first in line');
    await first.page.getByText('You are number 1 in line').waitFor({ timeout: 5000 });
    const es = await visit('es-ES', 'Chatea con nosotros', 'Escribe tu mensaje…', 'Enviar', 'hay alguien?');
    await es.page.getByText('Todos nuestros agentes están ocupados; te responderemos lo antes posible.').waitFor({ timeout: 5000 });
    await es.page.getByText('hay alguien?').waitFor();
    const en = await visit('en-US', 'Chat with us', 'Write your message…', 'Send', 'anyone there?');
    await en.page.getByText('All our agents are busy; we’ll answer as soon as possible.').waitFor({ timeout: 5000 });
    // Kept: staff see both overflowed visitors' words.
    const waiting = await api('GET', `/conversations?status=queued&group=${group.id}`);
    assert.deepEqual(waiting.map((c) => c.last_preview).sort(), ['anyone there?', 'first in line', 'hay alguien?']);
    assert.equal(waiting.filter((c) => c.queue.overflow).length, 2);
    assert.deepEqual([...first.problems, ...es.problems, ...en.problems], []);
  } finally {
    shop.close();
  }
});

test('past fifty waiting, the list shows the longest waiting and says how many more there are', async () => {
  const admin = adminPage;
  const api = apiFrom(admin);
  const channel = await api('POST', '/channels', { kind: 'api', name: 'Mucha gente', mode: 'manual' });
  for (let n = 1; n <= 50; n++) {
    await api('POST', `/channels/${channel.id}/messages`, { contact: { identifier: `m${n}`, name: `Persona ${n}` }, text: `Mensaje ${n}` }, channel.token);
  }
  const inLine = await api('GET', '/conversations?status=queued&assignee=unassigned&limit=200');
  assert.ok(inLine.length > 50, `more than the list shows: ${inLine.length}`);
  await admin.goto(`${server.base}/conversations`);
  const queue = admin.getByTestId('waiting');
  await queue.getByTestId('waiting-more').getByText(`…y ${inLine.length - 50} más en espera.`).waitFor({ timeout: 5000 });
  await queue.getByText(`En espera (${inLine.length})`).waitFor();
  // The head of the line is there, the newest arrival is the one left out.
  await queue.getByText(inLine[0].last_preview, { exact: true }).waitFor();
  assert.equal(await queue.getByText('Mensaje 50', { exact: true }).count(), 0);
  assert.equal(await queue.locator('.waiting-item').count(), 50);
});
