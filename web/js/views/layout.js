// The workspace's frame: three panes (list, conversation, side panel) side by side, the list's and
// the side panel's widths set by dragging their separators or with the arrow keys, the side panel
// collapsed or shown; widths and the collapse are kept in localStorage. At phone width (≤ 760 px)
// the panes stack: the list, or one conversation full-screen with a back button, or its side
// panel; the browser's back button goes back too (history entries `#conversation=N`).
import { t } from '../i18n.js';
import { h } from '../dom.js';
import { view, mounted } from './workspace.js';

const KEY = 'centralita.workspace';
// Each resizable pane's narrowest, widest and first width, in CSS pixels.
const LIMITS = { list: { min: 240, max: 560, start: 340 }, side: { min: 240, max: 520, start: 300 } };
const NARROW = '(max-width: 760px)';

// Between phone and wide screens the side panel opens over the conversation, closed at first.
const MEDIUM = '(min-width: 761px) and (max-width: 1180px)';

export const narrow = () => window.matchMedia(NARROW).matches;
const medium = () => window.matchMedia(MEDIUM).matches;
// The side-panel buttons say what they would do at the window's new width.
window.matchMedia(MEDIUM).addEventListener('change', () => mounted() && syncSideButtons());

// What this browser remembers of the workspace (widths, collapse, filter, sort).
export function remembered() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) ?? {};
  } catch {
    return {};
  }
}

export function remember(patch) {
  localStorage.setItem(KEY, JSON.stringify({ ...remembered(), ...patch }));
}

const clamp = (which, px) => Math.round(Math.min(LIMITS[which].max, Math.max(LIMITS[which].min, Number(px) || LIMITS[which].start)));

// The frame around the three panes' contents; `open(id)` opens a conversation (the browser's back
// and forward buttons use it).
export function workspace({ list, main, side, open }) {
  const saved = remembered();
  const root = h('div', { class: 'ws', 'data-ws': '', 'data-mode': 'list' });
  root.classList.toggle('side-collapsed', saved.sideCollapsed === true);
  const widths = { list: clamp('list', saved.list), side: clamp('side', saved.side) };
  const apply = () => {
    // CSSOM, not a style attribute: the page's CSP allows no inline styles.
    root.style.setProperty('--ws-list-width', `${widths.list}px`);
    root.style.setProperty('--ws-side-width', `${widths.side}px`);
  };
  apply();
  root.append(
    h('section', { class: 'ws-pane ws-list', id: 'ws-list', 'aria-label': t('conversations.list') }, list),
    separator({ which: 'list', controls: 'ws-list', label: t('workspace.resize_list'), sign: 1, widths, apply }),
    h('section', { class: 'ws-pane ws-main', id: 'ws-main', 'aria-label': t('workspace.conversation') }, main),
    separator({ which: 'side', controls: 'ws-side', label: t('workspace.resize_side'), sign: -1, widths, apply }),
    h('aside', { class: 'ws-pane ws-side', id: 'ws-side', 'aria-label': t('workspace.side') }, side));
  view.root = root;
  view.openFromHistory = open;
  syncSideButtons();
  return root;
}

// A drag handle between two panes (`sign`: +1 when moving right widens the pane, -1 when it
// narrows it). Arrow keys move it 16 px (64 with Shift); Home and End go to the narrowest and widest.
function separator({ which, controls, label, sign, widths, apply }) {
  const { min, max } = LIMITS[which];
  const node = h('div', {
    class: `ws-separator ws-separator-${which}`, role: 'separator', tabindex: 0, 'aria-orientation': 'vertical',
    'aria-controls': controls, 'aria-label': label, 'aria-valuemin': min, 'aria-valuemax': max, 'aria-valuenow': widths[which], 'data-ws-separator': which,
  });
  const set = (px) => {
    widths[which] = clamp(which, px);
    node.setAttribute('aria-valuenow', String(widths[which]));
    apply();
  };
  const keep = () => remember({ [which]: widths[which] });
  node.addEventListener('keydown', (event) => {
    const step = event.shiftKey ? 64 : 16;
    const to = { ArrowLeft: widths[which] - step * sign, ArrowRight: widths[which] + step * sign, Home: min, End: max }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    set(to);
    keep();
  });
  node.addEventListener('pointerdown', (event) => {
    if (event.button !== 0) return;
    event.preventDefault();
    node.setPointerCapture(event.pointerId);
    node.classList.add('dragging');
    const [startX, start] = [event.clientX, widths[which]];
    const move = (m) => set(start + (m.clientX - startX) * sign);
    const up = () => {
      node.removeEventListener('pointermove', move);
      node.removeEventListener('pointerup', up);
      node.removeEventListener('pointercancel', up);
      node.classList.remove('dragging');
      keep();
    };
    node.addEventListener('pointermove', move);
    node.addEventListener('pointerup', up);
    node.addEventListener('pointercancel', up);
  });
  return node;
}

// Whether the side panel is on screen: shown beside the conversation, or (phone) in its place.
export function sideShown() {
  if (narrow()) return view.root?.dataset.mode === 'side';
  if (medium()) return Boolean(view.root?.classList.contains('side-open'));
  return !view.root?.classList.contains('side-collapsed');
}

// The side panel's button (in the conversation's header and the panel's own): collapses or shows
// it beside the conversation; on a phone it switches between the conversation and the panel.
export function toggleSide() {
  if (!view.root) return;
  if (narrow()) view.root.dataset.mode = view.root.dataset.mode === 'side' ? 'conversation' : 'side';
  else if (medium()) view.root.classList.toggle('side-open');
  else {
    const collapsed = view.root.classList.toggle('side-collapsed');
    remember({ sideCollapsed: collapsed });
  }
  syncSideButtons();
}

// Every side-panel button says what it would do.
export function syncSideButtons() {
  const shown = sideShown();
  for (const button of view.root?.querySelectorAll('[data-ws-side-toggle]') ?? []) {
    // The side panel's own back button (phone width) leads back to the conversation.
    const label = button.dataset.wsSideToggle === 'back' ? t('workspace.side_back') : shown ? t('workspace.side_hide') : t('workspace.side_show');
    button.setAttribute('aria-expanded', String(shown));
    button.setAttribute('aria-label', label);
    button.title = label;
  }
}

// A conversation was opened by the person: on a phone it takes the screen, and the browser's back
// button leads back to the list (one history entry for the list, however many are opened).
export function showConversation(id) {
  if (!view.root) return;
  // On a phone the list is about to hide: a keyboard's focus follows to the messages.
  const fromList = narrow() && view.root.querySelector('.ws-list')?.contains(document.activeElement);
  view.root.dataset.mode = 'conversation';
  if (fromList) view.root.querySelector('.ws-main [data-testid="messages"]')?.focus({ preventScroll: true });
  const hash = `#conversation=${id}`;
  if (location.hash !== hash) {
    if (history.state?.ws) history.replaceState({ ws: 'conversation' }, '', hash);
    else history.pushState({ ws: 'conversation' }, '', hash);
  }
  syncSideButtons();
}

// The back button of the conversation: the list again (through history when we came from it).
export function backToList() {
  if (history.state?.ws) return history.back();
  history.replaceState(null, '', location.pathname);
  showList();
}

export function showList() {
  if (!view.root) return;
  view.root.dataset.mode = 'list';
  syncSideButtons();
  view.root.querySelector('.conv-item[aria-current="true"]')?.focus({ preventScroll: false });
}

// The browser's back and forward buttons within the workspace move between the list and a
// conversation without rebuilding the page (drafts and ticked boxes stay). Registered before the
// router's own listener (this module loads before app.js runs), which it then leaves out.
window.addEventListener('popstate', (event) => {
  if (!mounted() || location.pathname.replace(/\/+$/, '') !== '/conversations') return;
  event.stopImmediatePropagation();
  const id = Number(location.hash.match(/^#conversation=(\d+)$/)?.[1]);
  if (id) view.openFromHistory?.(id);
  else showList();
});
