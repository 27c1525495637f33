// Fast over a slow link (issue 22): an agent reaching the box remotely, on a link with 300 ms round
// trips and 1 Mbit/s each way (Chromium's network emulation), opens /conversations with an empty
// cache. The first panel is usable when the conversation list's first row is visible and takes a
// click (Playwright's actionability check) — by then every workspace module is loaded, since the
// page preloads them all, so the reply path is ready too (the admin screens load when opened). Counted from the navigation's start (the
// connection and TLS handshake included) and must be within 2 s. A second visit, with the cache
// warm, and opening the conversation to a reply box that takes typing are printed as well.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser } from './server.mjs';
import { Desk } from './desk.mjs';

const BUDGET_MS = 2000;
// Chromium's throttling: latency is added to each request; throughput is in bytes per second.
const SLOW_LINK = { offline: false, latency: 300, downloadThroughput: 125_000, uploadThroughput: 125_000 };

let server;
let browser;
let desk;
let agent;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  desk = await new Desk(server, browser).open();
  agent = await desk.staff({ first: 'Lucía', email: 'lucia@example.com', roles: ['agent'] });
  for (const [who, text] of [['Alba Ruiz', 'Hola, ¿tenéis talla M?'], ['Bruno Gil', '¿Cuándo llega mi pedido?'], ['Carmen Vidal', 'Quiero cambiar la dirección']]) {
    await desk.customer(who, text);
  }
  await agent.page.locator('.conv-item', { hasText: 'Carmen Vidal' }).waitFor();
});

after(async () => {
  desk?.close();
  await browser?.close();
  await server?.stop();
});

// Records in the page when the list's first row is first shown in the window and takes a click at
// its centre (nothing drawn over it), checked every frame: Playwright's own waiting polls at up to
// 500 ms apart, too coarse for this figure.
function watchFirstRow() {
  const check = () => {
    const row = document.querySelector('.conv-item');
    const box = row?.getBoundingClientRect();
    const hit = box && box.width > 0 && box.height > 0 ? document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2) : null;
    if (hit && row.contains(hit)) window.firstRowAt = performance.now();
    else requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
}

// Milliseconds from the navigation's start until the list's first row is visible and clickable.
async function firstPanel(page) {
  await page.goto(`${server.base}/conversations`, { waitUntil: 'commit' });
  await page.waitForFunction(() => window.firstRowAt !== undefined, null, { timeout: 20_000, polling: 100 });
  // And Playwright agrees a person could click it (visible, stable, enabled, not covered).
  await page.locator('.conv-item').first().click({ trial: true, timeout: 5_000 });
  return Math.round(await page.evaluate(() => window.firstRowAt));
}

// A fresh browser context (an empty cache, no open connection) with the agent's session cookie, on
// the slow link.
async function slowPage() {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'en-US', viewport: { width: 1366, height: 768 } });
  await context.addCookies(await agent.context.cookies());
  await context.addInitScript(watchFirstRow);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(err.message));
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', SLOW_LINK);
  return { context, page, problems };
}

// What the page fetched: the requests in order of start, with start and end (ms) and bytes.
const waterfall = (page) =>
  page.evaluate(() => performance.getEntriesByType('resource').map((e) => `${Math.round(e.startTime)}–${Math.round(e.responseEnd)} ms ${e.transferSize} B ${e.name.replace(location.origin, '')}`));

test('the first panel is usable within 2 s on a 300 ms, 1 Mbit/s link', async () => {
  // Three cold loads, each in a new context: the best one is held to the budget, since a busy
  // machine only adds time, while a round trip more or a heavier page adds to every load.
  const colds = [];
  let last;
  for (let run = 0; run < 3; run += 1) {
    await last?.context.close();
    last = await slowPage();
    colds.push(await firstPanel(last.page));
  }
  const { page, problems } = last;
  const resources = await waterfall(page);
  const kilobytes = await page.evaluate(() =>
    Math.round(performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation')).reduce((sum, e) => sum + e.transferSize, 0) / 1024));
  if (process.env.WATERFALL) console.log(resources.join('\n'));
  const cold = Math.min(...colds);
  console.log(`slow link first panel: ${cold} ms (cold cache; runs ${colds.join(', ')} ms; ${resources.length + 1} requests, ${kilobytes} KB transferred)`);

  // The reply path: the first conversation opens to a reply box that takes typing.
  const clicked = Math.round(await page.evaluate(() => performance.now()));
  await page.locator('.conv-item').first().click();
  const reply = page.getByRole('textbox', { name: 'Write a reply' });
  await reply.fill('Enseguida lo miro.', { timeout: 20_000 });
  console.log(`slow link conversation opened, reply box ready: ${Math.round(await page.evaluate(() => performance.now())) - clicked} ms after the click`);

  const warm = await firstPanel(page);
  console.log(`slow link first panel: ${warm} ms (warm cache)`);
  if (process.env.WATERFALL) console.log((await waterfall(page)).join('\n'));

  assert.deepEqual(problems, []);
  // The admin screens and the profile are not part of an agent's first load.
  const admin = resources.filter((line) => /\/js\/views\/(users|groups|channels|rules|admin|profile)\.js$/.test(line));
  assert.deepEqual(admin, [], 'the admin screens load only when opened');
  assert.ok(resources.some((line) => line.endsWith('/js/views/list.js')), `the workspace's modules load: ${resources.join('\n')}`);
  assert.ok(cold <= BUDGET_MS, `first panel after ${cold} ms at best on the slow link with an empty cache (budget ${BUDGET_MS} ms)`);
  assert.ok(warm <= BUDGET_MS, `first panel after ${warm} ms on the slow link with a warm cache (budget ${BUDGET_MS} ms)`);
  await last.context.close();
});
