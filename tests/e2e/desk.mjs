// A help desk for browser tests: the administrator's first sign-in, staff invited and signed in,
// a widget channel on a shop's own site and an API channel where customers write.
import { createServer } from 'node:http';
import assert from 'node:assert/strict';
import { openPage } from './server.mjs';

export const PASSWORD = 'a long enough password';

export async function setPassword(page, link) {
  await page.goto(link);
  await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat the password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Save password and sign in' }).click();
  await page.waitForURL('**/conversations');
}

// Calls the API from a signed-in page, as the UI itself does (with a bearer token when given).
export function apiFrom(page) {
  return (method, path, body, token) =>
    page.evaluate(async ([method, path, body, token]) => {
      const headers = { 'Content-Type': 'application/json' };
      if (token) headers.Authorization = `Bearer ${token}`;
      else headers['X-CSRF-Token'] = (await (await fetch('/api/v1/me')).json()).csrf_token;
      const response = await fetch(`/api/v1${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
      return response.status === 204 ? null : response.json();
    }, [method, path, body, token]);
}

// A page whose desktop notifications are recorded in window.notifications (permission granted).
export async function pageWithNotifications(browser, locale = 'en-US') {
  const opened = await openPage(browser, locale);
  await opened.context.addInitScript(() => {
    window.notifications = [];
    window.Notification = class {
      static permission = 'granted';
      static requestPermission() {
        return Promise.resolve('granted');
      }
      constructor(title, options = {}) {
        window.notifications.push({ title, body: options.body, tag: options.tag });
      }
    };
  });
  return opened;
}

// Waits until `check()` answers true (every 100 ms); fails with what it last answered.
export async function until(what, check, timeout = 5000) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last === true) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`${what}: ${JSON.stringify(last)}`);
}

export class Desk {
  constructor(server, browser) {
    this.server = server;
    this.browser = browser;
    this.channelKey = '';
  }

  // The administrator signs in, creates a widget channel (served on a shop's site) and an API channel.
  async open() {
    const { page } = await openPage(this.browser, 'en-US');
    this.admin = page;
    await setPassword(page, this.server.setupLink);
    this.api = apiFrom(page);
    const widget = await this.api('POST', '/channels', { kind: 'widget', name: 'Tienda' });
    this.channelKey = widget.public_key;
    this.channel = await this.api('POST', '/channels', { kind: 'api', name: 'Integración' });
    this.shop = createServer((request, response) => {
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      response.end(`<!doctype html><html><body><h1>Tienda</h1><script src="${this.server.base}/widget.js" data-channel="${this.channelKey}" async></script></body></html>`);
    });
    await new Promise((resolve) => this.shop.listen(0, '127.0.0.1', resolve));
    return this;
  }

  close() {
    this.shop?.close();
  }

  // A user invited by the administrator, signed in on their own page (agents accepting conversations).
  async staff({ first, email, roles, permissions = [], capacity = 5, notifications = false }) {
    const user = await this.api('POST', '/users', { first_name: first, last_name: 'Prueba', email, roles, permissions, language: 'en' });
    if (roles.includes('agent')) await this.api('PATCH', `/agents/${user.id}`, { capacity });
    const outbox = await this.api('GET', '/outbox');
    const link = outbox.find((mail) => mail.to === email).body.match(/https:\/\/\S+\/invite#token=\S+/)[0].replace(/^https:\/\/[^/]+/, this.server.base);
    const opened = notifications ? await pageWithNotifications(this.browser) : await openPage(this.browser, 'en-US');
    await setPassword(opened.page, link);
    if (roles.includes('agent')) {
      await opened.page.getByLabel('Accept new conversations').check();
      await opened.page.waitForTimeout(300);
    }
    return { ...opened, user, api: apiFrom(opened.page) };
  }

  // A customer writes through the API channel; answers the conversation.
  async customer(identifier, text) {
    const answer = await this.admin.evaluate(async ([id, token, identifier, text]) => {
      const response = await fetch(`/api/v1/channels/${id}/messages`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ contact: { identifier, name: identifier }, text }),
      });
      return { status: response.status, body: await response.json() };
    }, [this.channel.id, this.channel.token, identifier, text]);
    if (answer.status >= 300) throw new Error(`customer message refused: ${JSON.stringify(answer)}`);
    return answer.body.conversation;
  }

  // A visitor on the shop's site opens the widget.
  async visitor() {
    const opened = await openPage(this.browser, 'en-US');
    await opened.page.goto(`http://127.0.0.1:${this.shop.address().port}/`);
    await opened.page.getByRole('button', { name: 'Chat with us' }).click();
    return opened;
  }
}

export async function write(visitor, text) {
  await visitor.getByRole('textbox', { name: 'Write your message…' }).fill(text);
  await visitor.getByRole('button', { name: 'Send' }).click();
}
