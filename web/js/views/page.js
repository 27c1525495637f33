// The page pattern every administration screen follows (Users, Groups, Channels, Rules, Outbox,
// Audit, and the ones to come): a title bar with the h1 on the left and the primary action on the
// right, an optional line of help, then tables or forms in cards. One place, so screens match.
import { h } from '../dom.js';

// A button from a description, or the button itself when one is given already built.
// kind: 'primary' (default), 'secondary', 'danger', 'ghost', 'link'.
export function button(spec) {
  if (!spec || spec instanceof Node) return spec ?? null;
  const { label, onclick, kind = 'primary', small = false, testid, ...attrs } = spec;
  const classes = [kind === 'primary' ? null : kind, small ? 'small' : null].filter(Boolean).join(' ');
  return h('button', { type: 'button', class: classes || null, onclick, 'data-testid': testid, ...attrs }, label);
}

// The title bar: h1 and, at the right, the primary action (a spec for button() or a node) and
// any further actions. `help`: a line under the bar saying what the screen is for.
export function pageHead(title, primaryAction, { help, actions = [] } = {}) {
  const buttons = [...actions.map(button), button(primaryAction)].filter(Boolean);
  return [
    h('header', { class: 'page-head' }, h('h1', {}, title), buttons.length ? h('div', { class: 'page-actions' }, buttons) : null),
    help ? h('p', { class: 'page-help' }, help) : null,
  ];
}

// A table inside a card; when wider than the card (a phone) it scrolls inside it, never the page.
// The scrolling box is focusable and named, so a keyboard user can scroll it too.
export function tableCard(table, label, attrs = {}) {
  return h('div', { class: 'card card-table', ...attrs }, h('div', { class: 'table-scroll', role: 'region', 'aria-label': label, tabindex: 0 }, table));
}

// A table from column headers and rows; a header is text or { label, class } ('num',
// 'col-actions'). Rows are <tr> nodes; with none, `empty` fills one full-width cell.
export function table(headers, rows, empty) {
  const head = headers.map((header) => (typeof header === 'string' ? h('th', { scope: 'col' }, header) : h('th', { scope: 'col', class: header.class }, header.label ?? '')));
  const body = rows.length ? rows : h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, empty));
  return h('table', {}, h('thead', {}, h('tr', {}, head)), h('tbody', {}, body));
}

// The cell of a row's buttons: kept on one line, aligned right.
export function actionsCell(...buttons) {
  return h('td', { class: 'col-actions' }, h('div', { class: 'actions nowrap' }, buttons.flat().map(button)));
}

// What a screen shows when it has nothing yet, with the action that makes the first one.
export function emptyState(text, action) {
  return h('div', { class: 'card empty-state' }, h('p', {}, text), button(action));
}
