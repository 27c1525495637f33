// What a screen reader hears of the workspace by itself: one polite live region, visually hidden,
// that announces a new customer message in the open conversation or in the list ("New message from
// Ana: …") and a conversation assigned to you. The person's own sends and notes, and other staff's
// messages, are not announced. A burst is coalesced: the first one is said at once, whatever comes
// in the next second is said together after it ("3 new updates; the latest: …").
import { t } from '../i18n.js';
import { h } from '../dom.js';
import { contactName } from './common.js';
import { listedRow } from './list.js';
import { view } from './workspace.js';

const QUIET_MS = 1000;
// A message is announced by its beginning: enough to tell what it is about.
const LONGEST = 100;

let pending = [];
let quiet = null;

// The region, empty, on the page from the start (a region added with its text is not announced).
export function liveRegion() {
  view.live = h('div', { class: 'sr-only', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true', 'data-ws-live': '' });
  return view.live;
}

export function announce(text) {
  if (!view.live) return;
  if (quiet) pending.push(text);
  else say([text]);
}

function say(texts) {
  view.live.textContent = texts.length === 1 ? texts[0] : t('live.burst', { n: texts.length, last: texts[texts.length - 1] });
  quiet = setTimeout(() => {
    quiet = null;
    const waiting = pending;
    pending = [];
    if (waiting.length && view.live?.isConnected) say(waiting);
  }, QUIET_MS);
}

const short = (text) => {
  const flat = String(text ?? '').replace(/\s+/g, ' ').trim();
  return flat.length > LONGEST ? `${flat.slice(0, LONGEST - 1)}…` : flat;
};

// A live event, once the list and the open conversation took it in (so a new row's name is known);
// `assigned`: the alerts counted it as a conversation newly assigned to this person (alerts.js).
export function announceEvent(event, { assigned = false } = {}) {
  const id = event.conversation?.id;
  if (!id) return;
  const row = view.open?.id === id ? view.open : listedRow(id);
  const name = row ? contactName(row.contact) : null;
  if (assigned) announce(t('live.assigned', { name: name ?? short(event.conversation.last_preview) }));
  const m = event.type === 'message.created' ? event.message : null;
  if (row && m?.author.kind === 'customer' && !m.private) announce(t('live.new_message', { name, text: short(m.text) }));
}
