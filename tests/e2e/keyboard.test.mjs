// The workspace from the keyboard alone (issue 22): after signing in, an agent moves in the list
// with j/k and the arrows, opens with Enter, replies (r, Ctrl+Enter: the visitor gets it), writes
// an internal note (n: the visitor never gets it), transfers (t, the arrows, Tab, Enter) and
// finalizes (e asks first; Esc on the question finalizes nothing) without a click; "?" and the
// strip's button show the shortcuts, in English and Spanish. A screen reader hears new customer
// messages and assignments from the workspace's one live region, never the agent's own sends,
// and a burst comes as one announcement.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startServer, launchBrowser } from './server.mjs';
import { Desk, write, until } from './desk.mjs';

const strings = (lang) => JSON.parse(readFileSync(new URL(`../../web/i18n/${lang}.json`, import.meta.url), 'utf8'));

let server;
let browser;
let desk;
let ana;
let bruno;
let visitor;
const NOTE = 'Nota: jk, no ofrecer el descuento';
const REPLY = 'jk: ya te ayudo';

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  desk = await new Desk(server, browser).open();
  // Ana accepts alone: the visitor's chat, Marta's, Luis's and six more are hers. Bruno comes after.
  ana = await desk.staff({ first: 'Ana', email: 'ana@example.com', roles: ['agent'], permissions: ['transfer'], capacity: 12 });
  visitor = await desk.visitor();
  await write(visitor.page, 'Hola, necesito ayuda');
  await ana.page.locator('.conv-item', { hasText: 'Hola, necesito ayuda' }).waitFor();
  for (const name of ['Marta', 'Luis', ...[1, 2, 3, 4, 5, 6].map((n) => `Cliente ${n}`)]) {
    assert.equal((await desk.customer(name, `Consulta de ${name}`)).assignee?.name, 'Ana Prueba');
  }
  bruno = await desk.staff({ first: 'Bruno', email: 'bruno@example.com', roles: ['agent'] });
});

after(async () => {
  desk?.close();
  await browser?.close();
  await server?.stop();
});

// What has the focus: its hook, the row's conversation, whether the ring shows and the row is in
// view inside the list's scroll box.
const focused = (page) => page.evaluate(() => {
  const node = document.activeElement;
  const row = node.closest('.conv-item');
  const box = document.querySelector('.ws-list-scroll').getBoundingClientRect();
  const r = node.getBoundingClientRect();
  return {
    tag: node.tagName.toLowerCase(),
    id: row ? Number(row.dataset.id) : null,
    text: row?.textContent ?? '',
    hook: ['wsReply', 'wsTransfer', 'wsAction', 'wsFilter'].filter((k) => k in node.dataset).map((k) => `${k}=${node.dataset[k]}`).join(),
    ring: node.matches(':focus-visible') && getComputedStyle(node).outlineStyle === 'solid',
    inView: row ? r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5 : null,
  };
});
const rowIds = (page) => page.locator('.ws-list .conv-item').evaluateAll((nodes) => nodes.map((n) => Number(n.dataset.id)));
const press = async (page, ...keys) => {
  for (const key of keys) await page.keyboard.press(key);
};

test('an agent opens, replies, writes a note, transfers and finalizes with the keyboard alone', async () => {
  const page = ana.page;
  await page.setViewportSize({ width: 1366, height: 600 });
  await page.goto(`${server.base}/conversations`);
  await until('nine conversations listed', async () => (await rowIds(page)).length === 9 || (await rowIds(page)).length);
  const rows = await rowIds(page);

  // j/k and the arrows move the focus over the rows, ringed; only one row is a tab stop.
  await press(page, 'j');
  const first = await focused(page);
  assert.deepEqual([first.id, first.ring, first.inView], [rows[0], true, true]);
  await press(page, 'j');
  assert.equal((await focused(page)).id, rows[1]);
  await press(page, 'k');
  assert.equal((await focused(page)).id, rows[0]);
  await press(page, 'ArrowDown');
  assert.equal((await focused(page)).id, rows[1]);
  await press(page, 'ArrowUp');
  assert.equal((await focused(page)).id, rows[0]);
  assert.deepEqual(await page.locator('.ws-list .conv-item').evaluateAll((nodes) => nodes.filter((n) => n.tabIndex === 0).length), 1);
  // With another modifier held the keys are not the workspace's.
  await press(page, 'Alt+j', 'Shift+J', 'Control+Shift+K');
  assert.equal((await focused(page)).id, rows[0]);
  // Down to the last row (the visitor's, the oldest), scrolled into view.
  for (let n = 1; n < rows.length; n += 1) await press(page, 'j');
  const last = await focused(page);
  assert.deepEqual([last.id, last.ring, last.inView, /Hola, necesito ayuda/.test(last.text)], [rows[8], true, true, true]);
  const chat = rows[8];

  // Enter opens it; the focus stays on its row.
  await press(page, 'Enter');
  await page.getByTestId('conversation-id').getByText(`#${chat}`).waitFor();
  assert.equal(await page.locator(`.conv-item[data-id="${chat}"]`).getAttribute('aria-current'), 'true');
  assert.equal((await focused(page)).id, chat);

  // r: the reply box; j and k typed there are letters; Ctrl+Enter sends and the visitor gets it.
  await press(page, 'r');
  assert.equal((await focused(page)).hook, 'wsReply=');
  await page.keyboard.type(REPLY);
  assert.equal(await page.locator('[data-ws-reply]').inputValue(), REPLY);
  assert.equal((await focused(page)).hook, 'wsReply=', 'typing j and k stayed in the box');
  await press(page, 'Control+Enter');
  await page.getByTestId('messages').locator('.bubble.agent', { hasText: REPLY }).waitFor();
  await visitor.page.getByText(REPLY).waitFor({ timeout: 5000 });
  const replied = (await ana.api('GET', `/conversations/${chat}/messages`)).find((m) => m.text === REPLY);
  assert.equal(replied?.private, false);

  // Esc: back to the list. n: note mode, said in a toast, the reply box focused; Ctrl+Enter
  // stores a note the visitor never sees.
  await press(page, 'Escape');
  assert.equal((await focused(page)).id, chat);
  await press(page, 'n');
  await page.getByTestId('toasts').getByText('Internal note: the customer will not see it.').waitFor();
  assert.equal(await page.locator('form[data-ws-composer]').evaluate((form) => form.classList.contains('note-mode')), true);
  assert.equal((await focused(page)).hook, 'wsReply=');
  await page.keyboard.type(NOTE);
  await press(page, 'Control+Enter');
  await page.getByTestId('messages').locator('.bubble.note', { hasText: NOTE }).waitFor();
  assert.equal((await ana.api('GET', `/conversations/${chat}/messages`)).find((m) => m.text === NOTE)?.private, true);
  // n again (from the list): a reply again.
  await press(page, 'Escape', 'n');
  await page.getByTestId('toasts').getByText('Reply: the customer will see it.').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Send', exact: true }).count(), 1);

  // ?: the shortcuts; Esc closes them and the focus is back.
  await press(page, 'Escape', '?');
  const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
  await help.waitFor();
  await help.getByRole('cell', { name: 'Finalize the conversation (asks first)' }).waitFor();
  await press(page, 'Escape');
  await help.waitFor({ state: 'detached' });
  assert.equal((await focused(page)).id, chat);

  // t: the transfer picker; the arrows choose Bruno, Tab and Enter transfer.
  await press(page, 't');
  // On a loaded machine a live update may still be redrawing the pane's pickers: wait for the focus.
  await page.locator('[data-ws-transfer]:focus').waitFor({ timeout: 3000 }).catch(() => null);
  assert.equal((await focused(page)).hook, 'wsTransfer=');
  const options = await page.locator('[data-ws-transfer] option').evaluateAll((nodes) => nodes.map((n) => n.value));
  const from = options.indexOf(await page.locator('[data-ws-transfer]').inputValue());
  const to = options.indexOf(`agent:${bruno.user.id}`);
  assert.ok(to >= 0, `Bruno is offered: ${options}`);
  for (let n = from; n !== to; n += Math.sign(to - from)) await press(page, to > from ? 'ArrowDown' : 'ArrowUp');
  assert.equal(await page.locator('[data-ws-transfer]').inputValue(), `agent:${bruno.user.id}`);
  await press(page, 'Tab');
  assert.equal((await focused(page)).hook, 'wsAction=transfer');
  await press(page, 'Enter');
  await until('transferred to Bruno', async () => (await desk.api('GET', `/conversations/${chat}`)).assignee?.id === bruno.user.id);
  await until('gone from her list', async () => !(await rowIds(page)).includes(chat));
  await until('the focus back in the list', async () => (await focused(page)).id !== null);
  await visitor.page.waitForTimeout(300);
  assert.equal(await visitor.page.getByText(NOTE).count(), 0, 'the visitor never saw the note');

  // Down to Marta's row with j, Enter; e asks; Esc on the question finalizes nothing.
  for (let n = 0; n < 9 && !/Consulta de Marta/.test((await focused(page)).text); n += 1) await press(page, 'j');
  const marta = (await focused(page)).id;
  assert.match((await focused(page)).text, /Consulta de Marta/);
  await press(page, 'Enter');
  await page.getByTestId('conversation-id').getByText(`#${marta}`).waitFor();
  await press(page, 'e');
  const question = page.getByRole('dialog', { name: 'Finalize this conversation?' });
  await question.waitFor();
  await question.getByText('The conversation with Marta is closed.', { exact: false }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Cancel', 'Cancel has the focus');
  await press(page, 'Escape');
  await question.waitFor({ state: 'detached' });
  await page.waitForTimeout(300);
  assert.equal((await desk.api('GET', `/conversations/${marta}`)).status, 'assigned', 'Esc finalized nothing');
  assert.equal((await focused(page)).id, marta);
  // e, Tab to "Finalize", Enter: finalized, and the focus is in the list.
  await press(page, 'e');
  await question.waitFor();
  await press(page, 'Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Finalize');
  await press(page, 'Enter');
  await until('finalized', async () => (await desk.api('GET', `/conversations/${marta}`)).status === 'finalized');
  await until('gone from her list, the focus on a row', async () => {
    const [ids, now] = [await rowIds(page), await focused(page)];
    return (!ids.includes(marta) && now.id !== null && ids.includes(now.id)) || { ids, now };
  });
  assert.deepEqual([...ana.problems, ...visitor.problems], []);
});

test('the finalize button asks too, and Cancel finalizes nothing', async () => {
  const page = ana.page;
  await page.locator('.ws-list .conv-item', { hasText: 'Consulta de Luis' }).click();
  await page.getByRole('button', { name: 'Finalize' }).click();
  const question = page.getByRole('dialog', { name: 'Finalize this conversation?' });
  await question.getByRole('button', { name: 'Cancel' }).click();
  await question.waitFor({ state: 'detached' });
  const luis = (await ana.api('GET', '/conversations?assignee=me')).find((c) => c.last_preview === 'Consulta de Luis');
  assert.equal(luis.status, 'assigned');
  assert.deepEqual(ana.problems, []);
});

// The help dialog's actions, in the order it lists them, as the language's strings say them.
const helpActions = (page) => page.locator('dialog[data-ws-shortcuts] tbody td:nth-child(2)').allTextContents();
const expected = (lang) => ['next', 'previous', 'open', 'reply', 'note', 'send', 'finalize', 'transfer', 'search', 'help', 'escape'].map((k) => strings(lang)[`keys.${k}`]);

test('the shortcuts dialog, from "?" and from the strip’s button, in English and Spanish', async () => {
  const page = ana.page;
  await page.setViewportSize({ width: 1366, height: 768 });
  for (const lang of ['es', 'en']) {
    await ana.api('PATCH', '/me', { language: lang });
    await page.goto(`${server.base}/conversations`);
    const s = strings(lang);
    const button = page.getByRole('button', { name: s['keys.button'] });
    await button.waitFor();
    // From the button (reached by the keyboard: focused, then Enter).
    await button.focus();
    await press(page, 'Enter');
    const help = page.getByRole('dialog', { name: s['keys.title'] });
    await help.waitFor();
    assert.deepEqual(await helpActions(page), expected(lang));
    assert.deepEqual(await help.locator('th').allTextContents(), [s['keys.key'], s['keys.action']]);
    assert.match(await help.locator('tbody tr').first().textContent(), new RegExp(`j ${s['keys.or']} ↓ ${s['keys.arrow_down']}`));
    await press(page, 'Escape');
    await help.waitFor({ state: 'detached' });
    assert.equal(await button.evaluate((node) => node === document.activeElement), true, 'the focus is back on the button');
    // From "?", with the focus on the page.
    await page.locator('[data-ws-list]').first().evaluate(() => document.activeElement?.blur());
    await press(page, '?');
    await help.waitFor();
    await help.getByRole('button', { name: s['common.close'] }).focus();
    await press(page, 'Enter');
    await help.waitFor({ state: 'detached' });
  }
  assert.deepEqual(ana.problems, []);
});

// Every text the live region takes, as it takes it.
const recordAnnouncements = (page) => page.evaluate(() => {
  window.announced = [];
  const region = document.querySelector('[data-ws-live]');
  new MutationObserver(() => window.announced.push(region.textContent)).observe(region, { childList: true, characterData: true, subtree: true });
});
const announced = (page) => page.evaluate(() => window.announced);

test('the live region announces customer messages and assignments, not her own sends, a burst as one', async () => {
  const page = ana.page;
  await page.goto(`${server.base}/conversations`);
  const region = page.locator('[data-ws-live]');
  assert.deepEqual(await region.evaluate((node) => [node.getAttribute('aria-live'), node.className, node.textContent]), ['polite', 'sr-only', '']);
  assert.equal(await page.locator('.ws-page [aria-live]:not([aria-live="off"])').count(), 1, 'one live region in the workspace');
  await page.locator('.ws-list .conv-item', { hasText: 'Consulta de Luis' }).click();
  await page.getByTestId('messages').getByText('Consulta de Luis').waitFor();
  await recordAnnouncements(page);

  // A message in the open conversation, then one in another listed conversation.
  await desk.customer('Luis', 'Otra pregunta de Luis');
  await until('the open one announced', async () => (await announced(page)).includes('New message from Luis: Otra pregunta de Luis') || announced(page));
  await page.waitForTimeout(1100);
  await desk.customer('Cliente 2', 'Hola de nuevo');
  await until('a listed one announced', async () => (await announced(page)).includes('New message from Cliente 2: Hola de nuevo') || announced(page));

  // Her own reply is not announced.
  await page.waitForTimeout(1100);
  const before = (await announced(page)).length;
  await page.getByRole('textbox', { name: 'Write a reply' }).fill('Mi propia respuesta');
  await page.getByRole('textbox', { name: 'Write a reply' }).press('Enter');
  await page.getByTestId('messages').getByText('Mi propia respuesta').waitFor();
  await page.waitForTimeout(1500);
  assert.deepEqual((await announced(page)).slice(before), [], 'nothing announced for her own send');

  // A conversation assigned to her: routed to her, or (routed to Bruno) given to her by the administrator.
  const nora = await desk.customer('Nora', 'Consulta de Nora');
  if (nora.assignee?.name !== 'Ana Prueba') await desk.api('POST', `/conversations/${nora.id}/assign`, { agent_id: ana.user.id, force: true });
  await until('the assignment announced', async () => (await announced(page)).some((text) => text.includes('Conversation assigned to you: Nora')) || announced(page));

  // A burst of three messages within a second: at most two announcements, the last one a summary.
  await page.waitForTimeout(1100);
  const start = (await announced(page)).length;
  await desk.admin.evaluate(async ([id, token]) => {
    await Promise.all(['Cliente 3', 'Cliente 4', 'Cliente 5'].map((name) => fetch(`/api/v1/channels/${id}/messages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ contact: { identifier: name, name }, text: `Ráfaga de ${name}` }),
    })));
  }, [desk.channel.id, desk.channel.token]);
  await page.waitForTimeout(2500);
  const burst = (await announced(page)).slice(start);
  assert.ok(burst.length >= 1 && burst.length <= 2, `one or two announcements: ${JSON.stringify(burst)}`);
  assert.match(burst.at(-1), /^\d new updates; the latest: New message from Cliente \d: Ráfaga de Cliente \d$/);
  assert.deepEqual(ana.problems, []);
});

// Tabs through the page from its start: each element focused, whether a focus ring showed on it.
const tabWalk = (page, most = 200) => page.evaluate(() => document.activeElement?.blur()).then(async () => {
  const seen = [];
  for (let n = 0; n < most; n += 1) {
    await page.keyboard.press('Tab');
    const step = await page.evaluate(() => {
      const node = document.activeElement;
      if (!node || node === document.body) return null;
      node.dataset.walked ??= String(Math.random()).slice(2);
      const s = getComputedStyle(node);
      const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0 && s.outlineColor !== 'rgba(0, 0, 0, 0)';
      return { key: node.dataset.walked, what: `${node.tagName.toLowerCase()} ${node.getAttribute('aria-label') ?? node.textContent.trim().slice(0, 30)}`, ring: node.matches(':focus-visible') && (outline || s.boxShadow !== 'none') };
    });
    if (step && seen.some((s) => s.key === step.key)) break;
    if (step) seen.push(step);
  }
  return seen;
});

// Every control on screen one can operate: all but the list's rows besides its tab stop (j/k).
const controls = (page) => page.evaluate(() => [...document.querySelectorAll('button, a[href], input, select, textarea, [tabindex], [role="separator"]')]
  .filter((node) => node.tabIndex >= 0 && node.checkVisibility() && !node.closest('[data-testid="toasts"]'))
  .map((node) => ({ what: `${node.tagName.toLowerCase()} ${node.getAttribute('aria-label') ?? node.textContent.trim().slice(0, 30)}` })));

test('every control of the workspace is reached with Tab and shows its focus ring', async () => {
  // An administrator's workspace has the most: filters, sort, assign, edit contact, labels'
  // remove buttons, previous conversations, and the agents table's settings.
  const rosa = await desk.customer('Rosa', 'Primera de Rosa');
  await desk.api('POST', `/conversations/${rosa.id}/finalize`, {});
  const again = await desk.customer('Rosa', 'Segunda de Rosa');
  await desk.api('POST', `/conversations/${again.id}/labels`, { label: 'vip' });
  const page = desk.admin;
  await page.setViewportSize({ width: 1366, height: 768 });
  await page.goto(`${server.base}/conversations#conversation=${again.id}`);
  await page.getByTestId('previous-conversations').getByText('Primera de Rosa').waitFor();
  await page.getByRole('button', { name: 'Remove label vip' }).waitFor();
  const walk = async () => {
    const [walked, all] = [await tabWalk(page), await controls(page)];
    // By what they say: a part redrawn meanwhile (the waiting line's fold) is a new node.
    const reached = new Set(walked.map((s) => s.what));
    assert.deepEqual(all.filter((c) => !reached.has(c.what)).map((c) => c.what), [], 'reached with Tab');
    assert.deepEqual(walked.filter((s) => !s.ring).map((s) => s.what), [], 'a ring on each');
    return walked;
  };
  const walked = await walk();
  assert.ok(walked.length > 20, 'the walk went round the page');
  for (const name of ['Remove label vip', 'Resize the conversation list', 'Resize the contact panel', 'Hide the contact panel', 'Edit contact', 'Keyboard shortcuts (?)', 'Finalize']) {
    assert.ok(walked.some((s) => s.what.includes(name)), `${name} is in the tab order`);
  }
  // The agents table in the middle pane: its settings too.
  await page.getByRole('button', { name: 'Agents' }).click();
  await page.getByTestId('agents-table').getByRole('spinbutton').first().waitFor();
  await walk();
  await page.getByRole('button', { name: 'Agents' }).click();
});
