// Hostile text never runs as script: XSS payloads sent as a customer's name, messages, contact
// fields, labels and an agent's name are shown in the supervisor's and the agent's views and in
// the web widget, and the test listens for what a payload would do (a dialog, a global marker, a
// console line, a javascript: link). Expected: zero executions, the payloads visible as text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startServer, launchBrowser, openPage } from './server.mjs';

const PASSWORD = 'a long enough password';
const PAYLOADS = [
  '<img src=x onerror="window.__xss=1;alert(1)">',
  '<svg onload="window.__xss=2;alert(2)"></svg>',
  '"><script>window.__xss=3;alert(3)</script>',
  '<a href="javascript:window.__xss=4">haz clic</a>',
  '[haz clic](javascript:window.__xss=5) **negrita**',
  '<iframe srcdoc="<script>parent.__xss=6</script>"></iframe>',
];
const LABEL = '<img src=x onerror=alert(7)>';
let server;
let browser;
let shop;
let widgetKey = '';

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  shop = createServer((request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(`<!doctype html><html><body><h1>Tienda</h1><script src="${server.base}/widget.js" data-channel="${widgetKey}" async></script></body></html>`);
  });
  await new Promise((resolve) => shop.listen(0, '127.0.0.1', resolve));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  shop?.close();
});

// Everything a payload could do if it ran, gathered from a page and all its frames.
function watch(page) {
  const seen = { dialogs: 0, console: [] };
  page.on('dialog', async (dialog) => {
    seen.dialogs += 1;
    await dialog.dismiss();
  });
  page.on('console', (message) => seen.console.push(message.text()));
  return seen;
}

async function executed(page, seen) {
  const markers = [];
  for (const frame of page.frames()) {
    markers.push(await frame.evaluate(() => window.__xss ?? null).catch(() => null));
  }
  const scriptLinks = await page.evaluate(() => {
    const roots = [document, ...[...document.querySelectorAll('*')].filter((n) => n.shadowRoot).map((n) => n.shadowRoot)];
    return roots.flatMap((root) => [...root.querySelectorAll('a[href^="javascript:" i], iframe[srcdoc], img[src="x"], svg[onload]')]).length;
  });
  return { dialogs: seen.dialogs, markers: markers.filter((m) => m !== null), injectedElements: scriptLinks };
}

test('payloads in names, messages, contact fields and labels never run in any view', async () => {
  const { page: admin, problems } = await openPage(browser, 'en-US');
  const adminSeen = watch(admin);
  await admin.goto(server.setupLink);
  await admin.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await admin.getByLabel('Repeat the password').fill(PASSWORD);
  await admin.getByRole('button', { name: 'Save password and sign in' }).click();
  await admin.waitForURL('**/conversations');

  // A customer of an API channel with a hostile name writes every payload; staff add a hostile
  // label and fill the contact's fields with payloads.
  const conversationId = await admin.evaluate(async ([payloads, label]) => {
    const me = await (await fetch('/api/v1/me')).json();
    const headers = { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token };
    const post = async (path, body, extra = {}) => (await fetch(`/api/v1${path}`, { method: 'POST', headers: { ...headers, ...extra }, body: JSON.stringify(body) })).json();
    const channel = await post('/channels', { kind: 'api', name: 'Tienda API' });
    let answer;
    for (const text of payloads) {
      answer = await post(`/channels/${channel.id}/messages`, { contact: { identifier: 'hostil', name: payloads[0] }, text }, { Authorization: `Bearer ${channel.token}` });
    }
    const id = answer.conversation.id;
    await post(`/conversations/${id}/labels`, { label });
    await fetch(`/api/v1/contacts/${answer.conversation.contact.id}`, {
      method: 'PATCH',
      headers,
      body: JSON.stringify({ notes: payloads[1], custom: { web: payloads[3] } }),
    });
    await post(`/conversations/${id}/messages`, { text: payloads[4], private: true });
    return id;
  }, [PAYLOADS, LABEL]);

  await admin.reload();
  await admin.locator('.conv-item').first().click();
  const messages = admin.getByTestId('messages');
  for (const payload of PAYLOADS) await messages.getByText(payload, { exact: true }).first().waitFor();
  await admin.getByText(LABEL).first().waitFor();
  await admin.waitForTimeout(500);
  const staffView = await executed(admin, adminSeen);
  assert.deepEqual(staffView, { dialogs: 0, markers: [], injectedElements: 0 }, `staff view, conversation ${conversationId}`);

  // The web widget: a visitor writes the payloads and staff answer with them.
  const widget = await admin.evaluate(async () => {
    const me = await (await fetch('/api/v1/me')).json();
    const response = await fetch('/api/v1/channels', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token }, body: JSON.stringify({ kind: 'widget', name: 'Web' }) });
    return response.json();
  });
  widgetKey = widget.public_key;
  const { page: visitor, problems: visitorProblems } = await openPage(browser, 'en-US');
  const visitorSeen = watch(visitor);
  await visitor.goto(`http://127.0.0.1:${shop.address().port}/`);
  await visitor.getByRole('button', { name: 'Chat with us' }).click();
  for (const payload of PAYLOADS.slice(0, 3)) {
    await visitor.getByRole('textbox', { name: 'Write your message…' }).fill(payload);
    await visitor.getByRole('button', { name: 'Send' }).click();
    await visitor.getByText(payload).first().waitFor({ timeout: 5000 });
  }
  await admin.evaluate(async (payloads) => {
    const me = await (await fetch('/api/v1/me')).json();
    const list = await (await fetch('/api/v1/conversations')).json();
    const items = Array.isArray(list) ? list : list.items ?? list.conversations ?? [];
    const web = items.find((c) => c.channel?.kind === 'widget');
    for (const text of payloads) {
      await fetch(`/api/v1/conversations/${web.id}/messages`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token }, body: JSON.stringify({ text }) });
    }
  }, PAYLOADS.slice(3));
  for (const payload of PAYLOADS.slice(3)) await visitor.getByText(payload).first().waitFor({ timeout: 5000 });
  await visitor.waitForTimeout(500);
  const widgetView = await executed(visitor, visitorSeen);
  assert.deepEqual(widgetView, { dialogs: 0, markers: [], injectedElements: 0 }, 'widget');

  // An agent whose name is a payload gets the hostile conversation: the agent's own view shows it
  // as text, and the supervisor's agents table shows the agent's name as text.
  const link = await admin.evaluate(async ([name, id]) => {
    const me = await (await fetch('/api/v1/me')).json();
    const headers = { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token };
    const body = { first_name: name, last_name: '<b>Ruiz</b>', email: 'hostil@example.com', roles: ['agent'], language: 'en' };
    const agent = await (await fetch('/api/v1/users', { method: 'POST', headers, body: JSON.stringify(body) })).json();
    const assigned = await fetch(`/api/v1/conversations/${id}/assign`, { method: 'POST', headers, body: JSON.stringify({ agent_id: agent.id, force: true }) });
    if (!assigned.ok) throw new Error(`assign: ${assigned.status} ${await assigned.text()}`);
    const outbox = await (await fetch('/api/v1/outbox')).json();
    return outbox.find((mail) => mail.to === 'hostil@example.com').body.match(/https:\/\/\S+\/invite#token=\S+/)[0];
  }, [PAYLOADS[0], conversationId]);
  const { page: agent, problems: agentProblems } = await openPage(browser, 'en-US');
  const agentSeen = watch(agent);
  await agent.goto(link.replace(/^https:\/\/[^/]+/, server.base));
  await agent.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await agent.getByLabel('Repeat the password').fill(PASSWORD);
  await agent.getByRole('button', { name: 'Save password and sign in' }).click();
  await agent.waitForURL('**/conversations');
  await agent.locator('.conv-item').first().click();
  for (const payload of PAYLOADS) await agent.getByTestId('messages').getByText(payload, { exact: true }).first().waitFor();
  await agent.getByText(LABEL).first().waitFor();
  await agent.waitForTimeout(500);
  assert.deepEqual(await executed(agent, agentSeen), { dialogs: 0, markers: [], injectedElements: 0 }, 'agent view');
  await admin.reload();
  await admin.getByRole('button', { name: 'Agents' }).click();
  await admin.getByTestId('agents-table').getByText(PAYLOADS[0], { exact: false }).first().waitFor();
  await admin.waitForTimeout(500);
  assert.deepEqual(await executed(admin, adminSeen), { dialogs: 0, markers: [], injectedElements: 0 }, 'agents table');
  assert.deepEqual([...problems, ...visitorProblems, ...agentProblems], []);
});
