// The workspace's shared state: the open conversation and its messages, the agents and groups the
// page knows, and what the person typed, ticked and chose in each conversation (kept across
// redraws and live updates). Every workspace module reads and writes this one `view`.
//
// DOM hooks (stable, for keyboard shortcuts and tests): the frame `[data-ws]` (its `data-mode`:
// list, conversation or side at phone width); the list `ul[data-ws-list]` of
// `button.conv-item[data-id]` (the open one `aria-current="true"`), its filters
// `[data-ws-filter]` (`aria-pressed`) and sort `[data-ws-sort]`; the reply `[data-ws-reply]`, the
// note toggle `[data-ws-note]`, the composer `form[data-ws-composer]`; actions
// `[data-ws-action="send|transfer|assign|finalize|take-next|edit-contact"]` with the pickers
// `[data-ws-transfer]` and `[data-ws-assign]`; the side panel's buttons `[data-ws-side-toggle]`,
// the back button `[data-ws-back]`, the separators `[data-ws-separator]`, labels `[data-ws-label]`.
// pane.js exports `openConversation(id)`; layout.js `toggleSide()` and `backToList()`.
import { session } from '../app.js';
import { replace } from '../dom.js';
import { roles, oversees } from './common.js';

// Replaced in place (never reassigned), so every module holds the same object.
export const view = {};

export function resetView(main) {
  for (const key of Object.keys(view)) delete view[key];
  Object.assign(view, { main, open: null, messages: [], hasOlder: false, agents: [], groups: [], drafts: new Map(), controls: new Map(), parts: null });
}

export const isAgent = () => roles().includes('agent');
export const canWork = () => oversees() || isAgent();
export const canTransfer = () => oversees() || session.me.permissions.includes('transfer');
// Whether the person works this conversation now: reply, note, transfer, labels, finalize.
export const isWorking = (c) => canWork() && c.status !== 'finalized' && (c.assignee?.id === session.me.id || oversees());

// What the person has typed, ticked and chosen in a conversation's controls.
export function controlsOf(id) {
  if (!view.controls.has(id)) view.controls.set(id, { note: false, target: '', agent: '', force: false, label: '' });
  return view.controls.get(id);
}

// The names a live event lacks, from what the page knows (undefined when it does not).
export const names = {
  user: (id) => (id === session.me.id ? `${session.me.first_name} ${session.me.last_name}`.trim() : view.agents.find((a) => a.id === id)?.name),
  group: (id) => view.groups.find((g) => g.id === id)?.name,
};

// What a part was last drawn from, stamped on it, so an update can tell whether it changed.
export const stamp = (node, content) => (node.dataset.shown = JSON.stringify(content));
export const shows = (node, content) => node.dataset.shown === JSON.stringify(content);

// Replaces a picker's options and keeps the person's choice while it is still offered.
export function fillSelect(select, options) {
  const chosen = select.value;
  replace(select, options);
  choose(select, chosen);
}

export function choose(select, value) {
  if (value && [...select.options].some((o) => o.value === value)) select.value = value;
}

// Whether the workspace is still on screen (the person may have gone to another page).
export const mounted = () => Boolean(view.root?.isConnected);
