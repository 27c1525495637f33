// The design system as a person sees it, in Spanish and English, light and dark: every admin
// screen has the title bar (h1 and its primary action), dark mode really is dark, text keeps WCAG
// AA contrast, the Users table's buttons stay on one line at 1366 × 768, every input type wears
// the system's look (not the browser's), no page scrolls sideways on a 390-px phone (wide tables
// scroll inside their card), the phone's menu opens and closes from the keyboard, and the
// confirmation dialog and toasts replace the browser's confirm() and alert().
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launchBrowser, openPage } from './server.mjs';
import { setPassword, apiFrom } from './desk.mjs';

const web = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
const words = Object.fromEntries(['es', 'en'].map((lang) => [lang, JSON.parse(readFileSync(join(web, 'i18n', `${lang}.json`), 'utf8'))]));

// The colours of tokens.css, light (the first :root) and dark (the prefers-color-scheme block).
function tokens() {
  const css = readFileSync(join(web, 'css', 'tokens.css'), 'utf8');
  const dark = css.slice(css.indexOf('@media (prefers-color-scheme: dark)'));
  const read = (text) => Object.fromEntries([...text.matchAll(/--([\w-]+):\s*(#[0-9a-f]{6})\b/gi)].map(([, name, hex]) => [name, hex]));
  return { light: read(css.slice(0, css.indexOf('@media'))), dark: { ...read(css.slice(0, css.indexOf('@media'))), ...read(dark) } };
}
const TOKENS = tokens();
const rgb = (hex) => `rgb(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(', ')})`;

// Each admin screen: its path, its title and its primary action (message keys).
const SCREENS = [
  { path: '/admin/users', title: 'users.title', action: 'users.new', opens: 'users.new' },
  { path: '/admin/groups', title: 'groups.title', action: 'groups.new', opens: 'groups.new' },
  { path: '/admin/channels', title: 'channels.title', action: 'channels.new', opens: 'channels.new' },
  { path: '/admin/rules', title: 'rules.title', action: 'rules.refresh' },
  { path: '/admin/outbox', title: 'outbox.title', action: 'common.refresh' },
  { path: '/admin/audit', title: 'audit.title', action: 'common.refresh' },
  { path: '/profile', title: 'profile.title' },
];

let server;
let browser;
let admin;
let api;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  ({ page: admin } = await openPage(browser, 'en-US'));
  await setPassword(admin, server.setupLink);
  api = apiFrom(admin);
  // Invited users (three buttons on their row, the longest labels), a supervisor with a
  // permission, a group and a widget channel, so every screen has rows to show.
  const people = [
    ['Ana', 'ana@example.com', ['agent'], ['dispenser']],
    ['Bartolomé', 'bartolome.de.las.casas@example.com', ['supervisor', 'agent'], []],
    ['Carla', 'carla@example.com', ['admin'], []],
  ];
  for (const [first, email, roles, permissions] of people) await api('POST', '/users', { first_name: first, last_name: 'Prueba Larga', email, roles, permissions, language: 'en' });
  await api('POST', '/groups', { name: 'Ventas', members: [1] });
  await api('POST', '/channels', { kind: 'widget', name: 'Tienda' });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// A signed-in administrator's page in that language and colour scheme.
async function adminPage(lang, colorScheme, viewport = { width: 1366, height: 768 }) {
  await api('PATCH', '/me', { language: lang });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: lang === 'es' ? 'es-ES' : 'en-US', colorScheme, viewport, storageState: await admin.context().storageState() });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(err.message));
  return { page, context, problems };
}

async function visit(page, path, title) {
  await page.goto(`${server.base}${path}`);
  if (title) await page.getByRole('heading', { level: 1, name: title, exact: true }).waitFor();
  else await page.locator(`#nav a[aria-current="page"][href="${path}"]`).waitFor({ state: 'attached' });
}

// Text whose colour against the background behind it is under 4.5:1 (WCAG AA), as drawn.
function lowContrast(page) {
  return page.evaluate(() => {
    const parse = (color) => {
      const m = color.match(/^rgba?\(([^)]+)\)$/);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    const luminance = ({ r, g, b }) => {
      const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (node) => {
      for (let el = node; el; el = el.parentElement) {
        const color = parse(getComputedStyle(el).backgroundColor);
        if (color && color.a >= 0.99) return color;
      }
      return { r: 255, g: 255, b: 255, a: 1 };
    };
    const found = [];
    for (const el of document.querySelectorAll('body *')) {
      const text = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join('').trim();
      if (!text || !el.getClientRects().length || el.closest('.sr-only, option, :disabled')) continue;
      const style = getComputedStyle(el);
      if (style.visibility === 'hidden') continue;
      const fg = parse(style.color);
      if (!fg) continue;
      const bg = background(el);
      const drawn = { r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a), b: fg.b * fg.a + bg.b * (1 - fg.a) };
      const [hi, lo] = [luminance(drawn), luminance(bg)].sort((x, y) => y - x);
      const ratio = (hi + 0.05) / (lo + 0.05);
      if (ratio < 4.5) found.push(`${el.tagName.toLowerCase()}.${el.className} «${text.slice(0, 30)}» ${ratio.toFixed(2)}:1`);
    }
    return found;
  });
}

for (const lang of ['es', 'en']) {
  const t = (key) => words[lang][key];
  for (const scheme of ['light', 'dark']) {
    const colours = TOKENS[scheme];

    test(`admin screens in ${lang}, ${scheme}: the title bar, the scheme's colours, AA contrast`, async () => {
      const { page, context, problems } = await adminPage(lang, scheme);
      for (const screen of SCREENS) {
        await visit(page, screen.path, t(screen.title));
        const head = page.locator('header.page-head');
        assert.equal(await head.locator('h1').textContent(), t(screen.title), `${screen.path}: the h1 is in the title bar`);
        if (screen.action) {
          const action = head.getByRole('button', { name: t(screen.action), exact: true });
          assert.ok(await action.isVisible(), `${screen.path}: the primary action «${t(screen.action)}» is in the title bar`);
          // The h1 on the left, the action on the right of the same bar.
          const [h1Box, actionBox, headBox] = await Promise.all([head.locator('h1').boundingBox(), action.boundingBox(), head.boundingBox()]);
          assert.ok(h1Box.x < actionBox.x && actionBox.x + actionBox.width > headBox.x + headBox.width - 2, `${screen.path}: h1 left, action right`);
          assert.equal(await action.evaluate((b) => getComputedStyle(b).backgroundColor), rgb(colours.accent), `${screen.path}: the action is a primary button`);
        }
        const seen = await page.evaluate(() => ({
          body: getComputedStyle(document.body).backgroundColor,
          ink: getComputedStyle(document.querySelector('h1')).color,
          card: getComputedStyle(document.querySelector('.card')).backgroundColor,
        }));
        assert.deepEqual(seen, { body: rgb(colours.bg), ink: rgb(colours.ink), card: rgb(colours.card) }, `${screen.path}: the ${scheme} page, text and card colours`);
        assert.deepEqual(await lowContrast(page), [], `${screen.path}: text under 4.5:1 in ${scheme}`);
        if (screen.opens) {
          await head.getByRole('button', { name: t(screen.action), exact: true }).click();
          await page.getByRole('heading', { level: 2, name: t(screen.opens), exact: true }).waitFor();
          assert.deepEqual(await lowContrast(page), [], `${screen.path}: the form's text under 4.5:1 in ${scheme}`);
        }
      }
      assert.deepEqual(problems, []);
      await context.close();
    });

    test(`sign-in pages in ${lang}, ${scheme}: a card with its h1, the scheme's colours, AA contrast, no sideways scroll on a phone`, async () => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: lang === 'es' ? 'es-ES' : 'en-US', colorScheme: scheme, viewport: { width: 390, height: 844 } });
      const page = await context.newPage();
      for (const [path, title] of [['/login', 'auth.login_title'], ['/forgot', 'auth.forgot_title']]) {
        await visit(page, path, t(title));
        assert.equal(await page.locator('.card h1').textContent(), t(title));
        assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), rgb(colours.bg));
        assert.deepEqual(await lowContrast(page), [], `${path}: text under 4.5:1`);
        assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), `${path} scrolls sideways at 390 px`);
      }
      await context.close();
    });

    test(`the Users table in ${lang}, ${scheme}: no button wraps at 1366 × 768`, async () => {
      const { page, context } = await adminPage(lang, scheme);
      await visit(page, '/admin/users', t('users.title'));
      const rows = page.locator('[data-testid="users-table"] tbody tr');
      assert.equal(await rows.count(), 4);
      const buttons = await page.locator('[data-testid="users-table"] td.col-actions').evaluateAll((cells) =>
        cells.flatMap((cell) => [...cell.querySelectorAll('button')].map((button) => {
          const style = getComputedStyle(button);
          const edges = ['paddingTop', 'paddingBottom', 'borderTopWidth', 'borderBottomWidth'].reduce((sum, p) => sum + parseFloat(style[p]), 0);
          // The height of this button with one line of text, and the lines its label takes.
          const single = Math.max(parseFloat(style.minHeight) || 0, parseFloat(style.lineHeight) + edges);
          const range = document.createRange();
          range.selectNodeContents(button);
          const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
          return { label: button.textContent, height: button.getBoundingClientRect().height, single, lines, top: button.getBoundingClientRect().top, rowTop: cell.querySelector('button').getBoundingClientRect().top };
        })));
      assert.ok(buttons.length >= 9, 'edit, re-send and deactivate on the invited users');
      for (const b of buttons) {
        assert.ok(b.height <= b.single + 0.5, `«${b.label}» is as high as a one-line button (${b.height}px, one line is ${b.single}px)`);
        assert.equal(b.lines, 1, `«${b.label}» is on one line`);
        assert.equal(b.top, b.rowTop, `«${b.label}» sits beside its row's other buttons`);
      }
      const fits = await page.locator('[data-testid="users-table"] .table-scroll').evaluate((box) => box.scrollWidth <= box.clientWidth);
      assert.ok(fits, 'the whole table fits its card at 1366 px');
      await context.close();
    });

    test(`at 390 px in ${lang}, ${scheme}: no page scrolls sideways, tables scroll in their card, the menu works from the keyboard`, async () => {
      const { page, context } = await adminPage(lang, scheme, { width: 390, height: 844 });
      // The agent's workspace too (whatever its headings), after the admin screens.
      for (const screen of [...SCREENS, { path: '/conversations' }]) {
        await visit(page, screen.path, screen.title && t(screen.title));
        if (!screen.title) await page.waitForTimeout(300);
        const widths = await page.evaluate(() => [document.documentElement.scrollWidth, innerWidth]);
        assert.ok(widths[0] <= widths[1], `${screen.path} scrolls sideways at 390 px (${widths[0]} > ${widths[1]})`);
        const bar = await page.locator('.topbar').boundingBox();
        assert.ok(bar.height <= 50, `${screen.path}: the top bar keeps one line (${bar.height}px)`);
      }
      await visit(page, '/admin/users', t('users.title'));
      const scroller = page.locator('[data-testid="users-table"] .table-scroll');
      assert.ok(await scroller.evaluate((box) => box.scrollWidth > box.clientWidth), 'the wide Users table scrolls inside its card');
      // The navigation waits behind the menu button; Esc closes it and gives the button its focus back.
      const groups = page.getByRole('link', { name: t('nav.groups'), exact: true });
      assert.equal(await groups.isVisible(), false, 'the links are folded away');
      const menu = page.getByRole('button', { name: t('nav.menu'), exact: true });
      await menu.focus();
      await page.keyboard.press('Enter');
      await groups.waitFor();
      assert.equal(await menu.getAttribute('aria-expanded'), 'true');
      assert.deepEqual(await lowContrast(page), [], 'the open menu keeps AA contrast');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Escape');
      await groups.waitFor({ state: 'hidden' });
      assert.equal(await page.evaluate(() => document.activeElement.id), 'menu-toggle');
      await menu.click();
      await groups.click();
      await page.getByRole('heading', { level: 1, name: t('groups.title'), exact: true }).waitFor();
      assert.equal(await groups.isVisible(), false, 'choosing a link closes the menu');
      await context.close();
    });
  }
}

// The links never hide past the bar's edge: at each width they all show, or they fold into the menu.
test('the top bar shows every link or folds them into the menu, at any width, in es and en', async () => {
  for (const lang of ['es', 'en']) {
    const { page, context } = await adminPage(lang, 'light');
    await visit(page, '/admin/users', words[lang]['users.title']);
    for (const width of [1366, 1280, 1024, 900, 600, 390]) {
      await page.setViewportSize({ width, height: 768 });
      await page.waitForTimeout(100);
      const bar = await page.evaluate(() => {
        const links = [...document.querySelectorAll('#nav a')].map((a) => a.getBoundingClientRect());
        const nav = document.getElementById('nav').getBoundingClientRect();
        return { folded: getComputedStyle(document.getElementById('menu-toggle')).display !== 'none', clipped: links.filter((r) => r.width === 0 || r.left < nav.left - 1 || r.right > nav.right + 1).length, height: document.querySelector('.topbar').getBoundingClientRect().height };
      });
      assert.ok(bar.folded || bar.clipped === 0, `${lang} at ${width}px: ${bar.clipped} links cut off at the bar's edge`);
      assert.ok(bar.height <= 50, `${lang} at ${width}px: the bar keeps one line`);
      if (width === 1366) assert.equal(bar.folded, false, `${lang}: a 1366-px window shows the links on the bar`);
      if (width === 390) assert.equal(bar.folded, true, `${lang}: a phone folds them`);
    }
    await context.close();
  }
});

// Every kind of input, placed in a real form of the Groups screen, wears the system's look.
for (const scheme of ['light', 'dark']) {
  test(`every input type is styled in ${scheme}, with invalid, disabled and focus states`, async () => {
    const colours = TOKENS[scheme];
    const { page, context } = await adminPage('en', scheme);
    await visit(page, '/admin/groups', 'Groups');
    await page.getByRole('button', { name: 'New group' }).click();
    const boxed = ['text', 'email', 'password', 'number', 'url', 'search', 'tel', 'date', 'time', 'datetime-local', 'file', 'select', 'textarea'];
    const seen = await page.evaluate((boxed) => {
      const form = document.querySelector('form.card');
      const make = (type) => (type === 'select' || type === 'textarea' ? document.createElement(type) : Object.assign(document.createElement('input'), { type }));
      const look = (el) => {
        const s = getComputedStyle(el);
        return { border: s.borderTopColor, width: s.borderTopWidth, radius: s.borderRadius, background: s.backgroundColor, font: s.fontFamily, accent: s.accentColor };
      };
      const all = Object.fromEntries([...boxed, 'checkbox', 'radio', 'range'].map((type) => {
        const el = make(type);
        const field = document.createElement('div');
        field.className = 'field';
        field.append(el);
        form.prepend(field);
        return [type, look(el)];
      }));
      const file = getComputedStyle(form.querySelector('input[type=file]'), '::file-selector-button');
      const invalid = form.querySelector('input[type=text]');
      invalid.setAttribute('aria-invalid', 'true');
      const disabled = form.querySelector('input[type=email]');
      disabled.disabled = true;
      return { all, fileButton: file.backgroundColor, invalid: getComputedStyle(invalid).borderTopColor, disabled: getComputedStyle(disabled).backgroundColor, body: getComputedStyle(document.body).fontFamily };
    }, boxed);
    for (const type of boxed) {
      assert.deepEqual(seen.all[type], { ...seen.all[type], border: rgb(colours['input-line']), width: '1px', radius: '6px', font: seen.body }, `${type}: the system's border, radius and font`);
      if (type !== 'file') assert.equal(seen.all[type].background, rgb(colours['input-bg']), `${type}: the field background`);
    }
    for (const type of ['checkbox', 'radio', 'range']) assert.equal(seen.all[type].accent, rgb(colours.accent), `${type} in the accent colour`);
    assert.equal(seen.fileButton, rgb(colours['card-alt']), 'the file button is styled');
    assert.equal(seen.invalid, rgb(colours.bad), 'an invalid field has a red border');
    assert.equal(seen.disabled, rgb(colours['card-alt']), 'a disabled field is greyed');
    // The keyboard's focus ring, from --focus, on a field and on a button.
    await page.getByRole('heading', { name: 'Groups', level: 1 }).click();
    await page.keyboard.press('Tab');
    assert.match(await page.evaluate(() => getComputedStyle(document.activeElement).boxShadow), new RegExp(rgb(colours.accent).replace(/[()]/g, '\\$&')), 'the focused button shows the ring');
    await page.getByLabel('Name', { exact: true }).focus();
    assert.match(await page.evaluate(() => getComputedStyle(document.activeElement).boxShadow), new RegExp(rgb(colours.accent).replace(/[()]/g, '\\$&')), 'the focused field shows the ring');
    await context.close();
  });
}

test('deactivating a user asks in a dialog (Esc cancels, focus returns) and a toast says it is done', async () => {
  for (const lang of ['en', 'es']) {
    const t = (key, vars = {}) => words[lang][key].replace(/\{(\w+)\}/g, (_, name) => vars[name]);
    const { page, context, problems } = await adminPage(lang, 'light');
    const dialogs = [];
    page.on('dialog', (dialog) => dialogs.push(dialog.message()));
    await visit(page, '/admin/users', t('users.title'));
    const row = page.locator('tr[data-email="carla@example.com"]');
    const deactivate = row.getByRole('button', { name: t('users.deactivate'), exact: true });
    await deactivate.click();
    const dialog = page.getByRole('dialog', { name: t('users.deactivate_title') });
    await dialog.waitFor();
    assert.match(await dialog.textContent(), new RegExp(t('users.confirm_deactivate', { email: 'carla@example.com' }).replace(/[?¿.]/g, '\\$&')));
    assert.equal(await page.evaluate(() => document.activeElement.textContent), t('common.cancel'), 'Cancel has the focus: Enter alone does no harm');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(() => document.activeElement.textContent), t('users.deactivate'), 'focus is back on the button that opened the dialog');
    assert.ok(await row.getByText(t('users.status_invited'), { exact: true }).isVisible(), 'Esc changed nothing');
    await deactivate.click();
    await dialog.getByRole('button', { name: t('users.deactivate'), exact: true }).click();
    const toast = page.getByTestId('toasts').getByRole('status').getByText(t('users.deactivated', { email: 'carla@example.com' }));
    await toast.waitFor();
    await row.getByText(t('users.status_deactivated'), { exact: true }).waitFor();
    // The toast goes away by itself.
    await toast.waitFor({ state: 'detached', timeout: 8000 });
    await row.getByRole('button', { name: t('users.activate'), exact: true }).click();
    await row.getByRole('button', { name: t('users.deactivate'), exact: true }).waitFor();
    assert.deepEqual(dialogs, [], 'no browser alert() or confirm()');
    assert.deepEqual(problems, []);
    await context.close();
  }
});

test('an error from the server shows as an alert toast, not the browser\'s alert()', async () => {
  const { page, context } = await adminPage('en', 'dark');
  const dialogs = [];
  page.on('dialog', (dialog) => dialogs.push(dialog.message()));
  await visit(page, '/admin/groups', 'Groups');
  // Someone else deletes the group meanwhile; deleting it here fails with the server's words.
  const [group] = await api('GET', '/groups');
  await api('DELETE', `/groups/${group.id}`);
  await page.locator(`tr[data-group="${group.name}"]`).getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  const alert = page.getByTestId('toasts').getByRole('alert');
  await alert.locator('.toast.error').waitFor();
  assert.ok((await alert.textContent()).length > 0);
  assert.deepEqual(dialogs, []);
  await context.close();
});
