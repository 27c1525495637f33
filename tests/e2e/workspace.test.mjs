// The agent's workspace (issue 22): at 1366 × 768 the list, the conversation and the side panel are
// all on screen with no page scroll; the list filters and sorts; a row shows the customer's
// initials, the channel's icon and the preview; the side panel shows the contact, edits it, lists
// the contact's previous conversations and adds and removes labels; the side panel's collapse and
// the panes' widths survive a reload. At 390 × 844 an agent opens a chat, replies and goes back. Sorted
// by waiting time, those still waiting come before a conversation the agent has just answered.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser } from './server.mjs';
import { Desk, until } from './desk.mjs';

let server;
let browser;
let desk;
let ana;
let sergio;
let first;
let second;
let pedro;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  desk = await new Desk(server, browser).open();
  // Marta writes, Ana (one slot) finalizes; Marta writes again and it is Ana's again; Pedro waits.
  ana = await desk.staff({ first: 'Ana', email: 'ana@example.com', roles: ['agent'], capacity: 1 });
  sergio = await desk.staff({ first: 'Sergio', email: 'sergio@example.com', roles: ['supervisor'] });
  first = await desk.customer('Marta López', 'Primera consulta');
  assert.equal(first.status, 'assigned');
  await ana.api('POST', `/conversations/${first.id}/finalize`, {});
  second = await desk.customer('Marta López', 'Segunda consulta');
  assert.equal(second.assignee?.name, 'Ana Prueba');
  pedro = await desk.customer('Pedro', 'Hola, soy Pedro');
  assert.equal(pedro.status, 'queued');
});

after(async () => {
  desk?.close();
  await browser?.close();
  await server?.stop();
});

const previews = (page) => page.locator('.ws-list .conv-item .preview').allTextContents();
const same = (page, expected) => async () => {
  const got = await previews(page);
  return JSON.stringify(got) === JSON.stringify(expected) || got;
};

// Whether the page scrolls, and each pane's box against the window.
const layout = (page) => page.evaluate(() => {
  const box = (selector) => {
    const node = document.querySelector(selector);
    const r = node.getBoundingClientRect();
    const style = getComputedStyle(node);
    return { visible: style.display !== 'none' && r.width > 0 && r.height > 0, inside: r.left >= 0 && r.top >= 0 && r.right <= innerWidth + 0.5 && r.bottom <= innerHeight + 0.5, width: Math.round(r.width) };
  };
  return {
    scroll: document.documentElement.scrollHeight - innerHeight,
    sideways: document.documentElement.scrollWidth - innerWidth,
    list: box('.ws-list'), main: box('.ws-main'), side: box('.ws-side'),
  };
});

test('at 1366 × 768 the three panes fit; filters, sort, rows, contact, previous conversations, labels', async () => {
  const page = sergio.page;
  await page.setViewportSize({ width: 1366, height: 768 });
  await page.goto(`${server.base}/conversations`);
  await until('both open ones listed, newest first', same(page, ['Hola, soy Pedro', 'Segunda consulta']));
  const row = page.locator('.conv-item', { hasText: 'Segunda consulta' });
  await row.click();
  await page.getByTestId('messages').getByText('Segunda consulta').waitFor();
  const seen = await layout(page);
  assert.ok(seen.scroll <= 0, `no page scroll (${seen.scroll}px too tall)`);
  for (const pane of ['list', 'main', 'side']) assert.deepEqual([pane, seen[pane].visible, seen[pane].inside], [pane, true, true]);
  // A row: initials, the channel's icon, the preview, the time; the open one is marked current.
  assert.equal(await row.getByTestId('avatar').textContent(), 'ML');
  assert.equal(await row.locator('svg[data-icon="api"]').getAttribute('aria-label'), 'API channel');
  assert.equal(await row.locator('.preview').textContent(), 'Segunda consulta');
  assert.match(await row.locator('time').textContent(), /\d/);
  assert.equal(await row.getAttribute('aria-current'), 'true');
  assert.equal(await row.getAttribute('data-id'), String(second.id));
  assert.equal(await row.locator('[data-slot="sla"]').count(), 1, 'a slot for the SLA badge');

  // Sort by waiting time: Marta's (last message before Pedro queued) waits longest.
  await page.getByLabel('Sort by').selectOption('wait');
  await until('longest waiting first', same(page, ['Segunda consulta', 'Hola, soy Pedro']));
  await page.getByLabel('Sort by').selectOption('last');
  await until('newest message first', same(page, ['Hola, soy Pedro', 'Segunda consulta']));
  // The queue: only Pedro, with how long he has waited.
  await page.getByRole('button', { name: "My groups' queue" }).click();
  await until('only who waits', same(page, ['Hola, soy Pedro']));
  await page.locator('.ws-list .conv-item').getByTestId('waited').getByText(/^waiting \d+ s$/).waitFor();
  assert.equal(await page.getByRole('button', { name: "My groups' queue" }).getAttribute('aria-pressed'), 'true');
  await page.getByRole('button', { name: 'All', exact: true }).click();
  await until('all again', same(page, ['Hola, soy Pedro', 'Segunda consulta']));
  // The waiting line folds to its heading and opens again.
  const fold = page.getByTestId('waiting').getByRole('button', { name: 'Waiting (1)' });
  await fold.click();
  assert.deepEqual([await fold.getAttribute('aria-expanded'), await page.getByTestId('waiting').getByText('Hola, soy Pedro').isVisible()], ['false', false]);
  await fold.click();
  await page.getByTestId('waiting').getByText('Hola, soy Pedro').waitFor();
  // Ana has her own and her queue, and no "All".
  assert.deepEqual(await ana.page.locator('[data-ws-filter]').evaluateAll((nodes) => nodes.map((n) => n.dataset.wsFilter)), ['mine', 'queue']);
  await until('Ana: hers only', same(ana.page, ['Segunda consulta']));

  // The side panel: the contact, then the edit saved.
  const side = page.locator('.ws-side');
  await side.getByTestId('contact-name').getByText('Marta López').waitFor();
  await side.getByRole('button', { name: 'Edit contact' }).click();
  await side.getByLabel('Phone').fill('+34 600 111 222');
  await side.getByLabel('Notes').fill('Prefiere WhatsApp');
  await side.getByRole('button', { name: 'Save' }).click();
  await side.locator('[data-fact="phone"] dd').getByText('+34 600 111 222').waitFor();
  await side.getByText('Prefiere WhatsApp').waitFor();
  const contact = await desk.api('GET', `/contacts/${second.contact.id}`);
  assert.deepEqual([contact.phone, contact.notes], ['+34 600 111 222', 'Prefiere WhatsApp']);

  // Labels added and removed from the side panel.
  await side.getByLabel('Add a label').fill('vip');
  await side.getByLabel('Add a label').press('Enter');
  await side.getByTestId('labels').getByText('vip').waitFor();
  assert.deepEqual((await desk.api('GET', `/conversations/${second.id}`)).labels, ['vip']);
  await side.getByRole('button', { name: 'Remove label vip' }).click();
  await side.getByTestId('labels').getByText('No labels yet.').waitFor();
  assert.deepEqual((await desk.api('GET', `/conversations/${second.id}`)).labels, []);

  // The contact's earlier, finalized conversation; opening it shows it.
  const previous = side.getByTestId('previous-conversations').locator('button', { hasText: 'Primera consulta' });
  await previous.getByText('Finalized').waitFor();
  assert.equal(await side.getByTestId('previous-conversations').locator('button').count(), 1, 'not the open one');
  await previous.click();
  await page.getByTestId('conversation-id').getByText(`#${first.id}`).waitFor();
  await page.getByTestId('conversation-status').getByText('Finalized').waitFor();
  await side.getByTestId('previous-conversations').locator('button', { hasText: 'Segunda consulta' }).click();
  await page.getByTestId('conversation-id').getByText(`#${second.id}`).waitFor();

  // The list widens with the arrow keys and by dragging; the side panel collapses; both stay.
  const handle = page.getByRole('separator', { name: 'Resize the conversation list' });
  const start = Number(await handle.getAttribute('aria-valuenow'));
  await handle.focus();
  for (let n = 0; n < 3; n += 1) await page.keyboard.press('ArrowRight');
  assert.equal(Number(await handle.getAttribute('aria-valuenow')), start + 48);
  const bounds = await handle.boundingBox();
  await page.mouse.move(bounds.x + bounds.width / 2, bounds.y + 200);
  await page.mouse.down();
  await page.mouse.move(bounds.x + bounds.width / 2 + 40, bounds.y + 200, { steps: 4 });
  await page.mouse.up();
  const wide = start + 48 + 40;
  assert.equal(Number(await handle.getAttribute('aria-valuenow')), wide);
  assert.equal((await layout(page)).list.width, wide);
  const sideHandle = page.getByRole('separator', { name: 'Resize the contact panel' });
  await sideHandle.focus();
  await page.keyboard.press('ArrowLeft');
  const sideWidth = Number(await sideHandle.getAttribute('aria-valuenow'));
  assert.equal((await layout(page)).side.width, sideWidth, 'the side panel widened by the left arrow');
  await page.getByRole('button', { name: 'Hide the contact panel' }).first().click();
  assert.equal((await layout(page)).side.visible, false);
  await page.reload();
  await page.getByTestId('conversation-id').getByText(`#${second.id}`).waitFor();
  const after = await layout(page);
  assert.deepEqual([after.list.width, after.side.visible, after.scroll <= 0], [wide, false, true]);
  await page.getByRole('button', { name: 'Show the contact panel' }).click();
  assert.equal((await layout(page)).side.width, sideWidth, 'the side panel back at its width');
  assert.deepEqual([...sergio.problems, ...ana.problems], []);
});

test('at 390 × 844 an agent opens a chat, replies and goes back', async () => {
  const page = ana.page;
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${server.base}/conversations`);
  // Her row by the customer's name (its preview becomes her reply).
  const row = page.locator('.ws-list .conv-item', { hasText: 'Marta López' });
  await row.getByText('Segunda consulta').waitFor();
  let seen = await layout(page);
  assert.deepEqual([seen.list.visible, seen.main.visible, seen.side.visible, seen.sideways <= 0], [true, false, false, true]);
  await row.click();
  const reply = page.getByRole('textbox', { name: 'Write a reply' });
  await reply.waitFor();
  seen = await layout(page);
  assert.deepEqual([seen.list.visible, seen.main.visible, seen.main.inside, seen.sideways <= 0], [false, true, true, true], 'the conversation full-screen');
  await reply.fill('Te escribo desde el móvil');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await page.getByTestId('messages').getByText('Te escribo desde el móvil').waitFor();
  const messages = await ana.api('GET', `/conversations/${second.id}/messages`);
  assert.ok(messages.some((m) => m.text === 'Te escribo desde el móvil'), 'the reply was sent');
  // The contact panel from the conversation's header, and back.
  await page.getByRole('button', { name: 'Show the contact panel' }).click();
  await page.locator('.ws-side').getByTestId('contact-name').getByText('Marta López').waitFor();
  assert.equal((await layout(page)).main.visible, false);
  await page.locator('.ws-side').getByRole('button', { name: 'Back to the conversation' }).click();
  await reply.waitFor();
  // The browser's back button: the list again, the draft kept.
  await reply.fill('un borrador');
  await page.goBack();
  await row.waitFor();
  assert.deepEqual([(await layout(page)).main.visible, new URL(page.url()).pathname], [false, '/conversations']);
  await row.click();
  assert.equal(await reply.inputValue(), 'un borrador', 'the draft stayed');
  // And the back button on screen.
  await page.getByRole('button', { name: 'Back to the list' }).click();
  await row.waitFor();
  assert.equal((await layout(page)).main.visible, false);
  assert.deepEqual(ana.problems, []);
});

test('sorted by waiting time, one the agent just answered goes below those still waiting', async () => {
  // Ana answered Marta from her phone (the test above); Luis writes after that and waits in line.
  const luis = await desk.customer('Luis', 'Hola, soy Luis');
  assert.equal(luis.status, 'queued');
  const page = sergio.page;
  await page.goto(`${server.base}/conversations`);
  await page.getByLabel('Sort by').selectOption('wait');
  await until('who waits longest first, the answered one last', same(page, ['Hola, soy Pedro', 'Hola, soy Luis', 'Te escribo desde el móvil']));
  assert.deepEqual(sergio.problems, []);
});
