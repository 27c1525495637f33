// Live updates applied in place (issue 14): a staff socket event's conversation carries every
// field of a list row but the names (contact, channel, group, assignee). A row already shown
// keeps its names, the page's agents and groups give a new assignee's or group's, and only a
// conversation the page lacks a name for is read, once (GET /conversations/{id}).
import { get } from '../api.js';

// Fields an event's conversation carries just as a row has them.
const CARRIED = ['status', 'labels', 'unread', 'last_message_at', 'last_preview', 'created_at', 'enqueued_at', 'assigned_at', 'finalized_at', 'finalize_reason', 'previous', 'waiting_since'];

// `known` brought up to the event's conversation `c`, or null when a name is missing.
// `names.user(id)` and `names.group(id)` give a name the page knows, or undefined.
export function merged(known, c, names) {
  if (!known) return null;
  const row = { ...known };
  for (const key of CARRIED) if (key in c) row[key] = c[key];
  const named = (current, id, lookup) => {
    if ((current?.id ?? null) === id) return current;
    if (id === null || id === undefined) return null;
    const name = lookup(id);
    return name === undefined ? undefined : { id, name };
  };
  row.assignee = named(known.assignee, c.assignee_id, names.user);
  row.group = named(known.group, c.group_id, names.group);
  if (row.assignee === undefined || row.group === undefined) return null;
  // A place in line is the server's to say; it has none once the conversation stops waiting.
  if (row.status !== 'queued') row.queue = null;
  return row;
}

// What one event needs of rows: `row(known)` is `known` brought up to date, or the conversation
// read from the server (at most once per event, however many lists ask).
export function rowsOf(c, names) {
  let read = null;
  return {
    conversation: c,
    row: async (known) => merged(known, c, names) ?? (await (read ??= get(`/conversations/${c.id}`))),
  };
}

// A message as GET /conversations/{id}/messages shows it, from a message.created event; null
// when its author's name is not known here.
export function messageOf(event, names) {
  const m = event.message;
  let author = { kind: m.author.kind, id: null, name: null };
  if (m.author.kind === 'system') author.name = m.author.name ?? null;
  if (m.author.kind === 'agent') {
    const name = names.user(m.author.id);
    if (name === undefined) return null;
    author = { kind: 'agent', id: m.author.id, name };
  }
  return { id: m.id, conversation_id: event.conversation.id, author, text: m.text, private: m.private, created_at: m.created_at, activity: m.activity ?? null };
}

// Open lists: newest message first, ties by the higher id (the server's order and cursor).
export const newestFirst = (a, b) => b.last_message_at - a.last_message_at || b.id - a.id;

// Whether a conversation sorts past `cursor` ("<last_message_at>-<id>", X-Next-Before): it is on a
// page not loaded yet.
export function beyond(c, cursor) {
  if (!cursor) return false;
  const [at, id] = cursor.split('-').map(Number);
  return c.last_message_at < at || (c.last_message_at === at && c.id < id);
}

// `list` with `row` in its place by `order` (or without it, when `row` is null).
export function placed(list, id, row, order) {
  const rest = list.filter((r) => r.id !== id);
  if (!row) return rest;
  const at = rest.findIndex((r) => order(row, r) < 0);
  rest.splice(at < 0 ? rest.length : at, 0, row);
  return rest;
}
