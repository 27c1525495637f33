// The staff UI: routes in the browser, the signed-in user, navigation by role.
import { get, post, patch, setCsrf } from './api.js';
import { t, setLanguage, browserLanguage, language } from './i18n.js';
import { h, replace } from './dom.js';
import { loginView, forgotView, setPasswordView } from './views/auth.js';
import { conversationsView } from './views/conversations.js';
// Toasts' live regions exist from the start, so screen readers announce the first toast too.
import './ui.js';

export const session = { me: null };

const isAdmin = (me) => me?.roles.includes('admin');
const isStaff = (me) => me?.roles.some((role) => role !== 'orders_admin');

// The admin screens and the profile load when first opened, so an agent's first load carries
// only the workspace. The address is relative to this module: the same versioned prefix.
const lazy = (load, name) => async (main) => (await load())[name](main);
const usersView = lazy(() => import('./views/users.js'), 'usersView');
const groupsView = lazy(() => import('./views/groups.js'), 'groupsView');
const channelsView = lazy(() => import('./views/channels.js'), 'channelsView');
const rulesView = lazy(() => import('./views/rules.js'), 'rulesView');
const outboxView = lazy(() => import('./views/admin.js'), 'outboxView');
const auditView = lazy(() => import('./views/admin.js'), 'auditView');
const profileView = lazy(() => import('./views/profile.js'), 'profileView');

const routes = {
  '/login': { view: loginView, public: true, title: 'nav.login' },
  '/forgot': { view: forgotView, public: true, title: 'auth.forgot_title' },
  '/invite': { view: (main) => setPasswordView(main, 'invite'), public: true, title: 'auth.invite_title' },
  '/reset': { view: (main) => setPasswordView(main, 'reset'), public: true, title: 'auth.reset_title' },
  '/conversations': { view: conversationsView, allow: isStaff, title: 'nav.conversations', nav: true, layout: 'full' },
  '/admin/users': { view: usersView, allow: isAdmin, title: 'nav.users', nav: true },
  '/admin/groups': { view: groupsView, allow: isAdmin, title: 'nav.groups', nav: true },
  '/admin/channels': { view: channelsView, allow: isAdmin, title: 'nav.channels', nav: true },
  '/admin/rules': { view: rulesView, allow: isAdmin, title: 'nav.rules', nav: true },
  '/admin/outbox': { view: outboxView, allow: isAdmin, title: 'nav.outbox', nav: true },
  '/admin/audit': { view: auditView, allow: isAdmin, title: 'nav.audit', nav: true },
  '/profile': { view: profileView, title: 'nav.profile', nav: true },
};

function home() {
  if (!session.me) return '/login';
  return isStaff(session.me) ? '/conversations' : '/profile';
}

export async function navigate(path, { replace: replaceEntry = false } = {}) {
  if (replaceEntry) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  await render();
}

// Called after any successful sign-in (login, invite, reset).
export async function signedIn(me) {
  session.me = me;
  setCsrf(me.csrf_token);
  if (me.language && me.language !== language()) await setLanguage(me.language);
  // A link followed while signed out (a notice mail's conversation) is where sign-in leads.
  const wanted = sessionStorage.getItem('centralita.after_login');
  sessionStorage.removeItem('centralita.after_login');
  await navigate(wanted && wanted.startsWith('/') && !wanted.startsWith('//') ? wanted : home(), { replace: true });
}

export async function refreshMe() {
  session.me = await get('/me');
  setCsrf(session.me.csrf_token);
  return session.me;
}

async function render() {
  const main = document.getElementById('main');
  let path = location.pathname.replace(/\/+$/, '') || '/';
  if (path === '/') path = home();
  const route = routes[path];
  if (!route) {
    renderChrome(null);
    document.title = `${t('notfound.title')} · centralita`;
    main.className = 'page';
    replace(main, h('div', { class: 'card empty-state' }, h('h1', {}, t('notfound.title')), h('a', { href: home(), 'data-link': true }, t('notfound.back'))));
    return;
  }
  if (!route.public && !session.me) {
    sessionStorage.setItem('centralita.after_login', path + location.hash);
    return navigate('/login', { replace: true });
  }
  if (session.me?.totp_setup_required && !route.public && path !== '/profile') return navigate('/profile', { replace: true });
  if (route.allow && !route.allow(session.me)) return navigate(home(), { replace: true });
  history.replaceState(null, '', path + location.hash);
  renderChrome(path);
  document.title = `${t(route.title)} · centralita`;
  // A full-page screen (the agent's workspace) takes the whole window below the top bar.
  main.className = route.layout === 'full' ? 'page page-full' : 'page';
  replace(main);
  await route.view(main);
  // Move focus to the new page for screen readers, unless the view already focused a field.
  if (document.activeElement === document.body) main.focus({ preventScroll: true });
}

function renderChrome(path) {
  const nav = document.getElementById('nav');
  const me = session.me;
  const links = me
    ? Object.entries(routes).filter(([, route]) => route.nav && (!route.allow || route.allow(me)))
    : [];
  replace(nav, links.map(([href, route]) => h('a', { href, 'data-link': true, 'aria-current': href === path ? 'page' : null }, t(route.title))));
  // On a phone the links scroll sideways: keep the current one in view.
  nav.querySelector('[aria-current="page"]')?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  nav.setAttribute('aria-label', t('nav.main'));
  document.getElementById('menu-label').textContent = t('nav.menu');
  setMenu(false);
  fitTopbar(true);
  document.querySelector('label[for="language"]').textContent = t('field.language');
  document.getElementById('who').textContent = me ? me.email : '';
  const logout = document.getElementById('logout');
  logout.hidden = !me;
  logout.textContent = t('nav.logout');
  document.getElementById('language').value = language();
}

document.addEventListener('click', (event) => {
  const link = event.target.closest('a[data-link]');
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  navigate(link.getAttribute('href'));
});

window.addEventListener('popstate', () => render());

document.getElementById('logout').addEventListener('click', async () => {
  await post('/auth/logout').catch(() => null);
  session.me = null;
  setCsrf(null);
  await navigate('/login', { replace: true });
});

// The phone's menu: the button opens it, Esc or choosing a link closes it, focus back on the button.
const topbar = document.querySelector('.topbar');
const menuToggle = document.getElementById('menu-toggle');
function setMenu(open) {
  topbar.classList.toggle('open', open);
  menuToggle.setAttribute('aria-expanded', String(open));
}

// Whether the links fit on the bar is measured, not guessed from a width: it depends on the
// language and on how many screens the user's roles show. Measured unfolded, kept for resizes.
let barNeeds = 0;
function fitTopbar(measure) {
  if (measure || !topbar.classList.contains('compact')) {
    topbar.classList.remove('compact');
    const nav = document.getElementById('nav');
    const links = nav.querySelectorAll('a');
    const content = links.length ? links[links.length - 1].getBoundingClientRect().right - links[0].getBoundingClientRect().left : 0;
    barNeeds = topbar.scrollWidth - nav.clientWidth + content + 1;
  }
  topbar.classList.toggle('compact', barNeeds > topbar.clientWidth);
}
new ResizeObserver(() => fitTopbar(false)).observe(topbar);
menuToggle.addEventListener('click', () => setMenu(!topbar.classList.contains('open')));
topbar.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape' || !topbar.classList.contains('open')) return;
  setMenu(false);
  menuToggle.focus();
});
document.addEventListener('click', (event) => {
  if (topbar.classList.contains('open') && !topbar.contains(event.target)) setMenu(false);
});

document.getElementById('language').addEventListener('change', async (event) => {
  await setLanguage(event.target.value);
  if (session.me) session.me = await patch('/me', { language: event.target.value }).catch(() => session.me);
  await render();
});

async function start() {
  try {
    await refreshMe();
  } catch {
    session.me = null;
  }
  await setLanguage(session.me?.language ?? browserLanguage());
  await render();
}

start();
