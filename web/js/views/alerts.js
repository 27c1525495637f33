// Alerts: a short tone and a desktop notification on a new customer message in one of my
// conversations and on a conversation assigned to me — exactly one per assignment however many
// events say it, and none for what I took myself (take, take next, assign to myself).
import { t } from '../i18n.js';
import { session } from '../app.js';

// For tests and for people: how many alerts (new message, assigned to you) were raised.
window.centralitaAlerts = window.centralitaAlerts ?? 0;

// Conversations known to be assigned to this person (so one assignment alerts once, though it
// comes as conversation.assigned and conversation.transferred), when each was noticed, and those
// the person gave themselves (take next, assign to self), which do not alert.
const mine = new Set();
const noticedAt = new Map();
const ownClaims = new Set();
let pendingClaim = null;

// A click that takes a conversation (take, take next): its own assignment event, which may arrive
// before the answer, raises no alert.
export function claiming(request) {
  const taking = request.then((taken) => {
    if (taken) claimed(taken.id);
    return taken;
  });
  pendingClaim = taking.catch(() => null);
  taking.finally(() => (pendingClaim = null)).catch(() => null);
  return taking;
}

export function claimed(id) {
  ownClaims.add(id);
  setTimeout(() => ownClaims.delete(id), 10_000);
}

// Whether the event told of a conversation newly assigned to this person by someone else (alerted).
export async function noticeAssignment(conversation) {
  if (conversation.assignee_id !== session.me.id) {
    mine.delete(conversation.id);
    return false;
  }
  if (mine.has(conversation.id)) return false;
  mine.add(conversation.id);
  // A new conversation routed here brings its first message right after: one alert for both.
  noticedAt.set(conversation.id, Date.now());
  if (pendingClaim) await pendingClaim;
  if (ownClaims.has(conversation.id)) return false;
  raiseAlert(t('conversations.assigned_to_you'), conversation.last_preview ?? '', conversation.id);
  return true;
}

export function alertNewMessage(event) {
  if (Date.now() - (noticedAt.get(event.conversation.id) ?? 0) < 3000) return;
  raiseAlert(t('conversations.new_message'), event.message.text, event.conversation.id);
}

// One audio context for every tone. Browsers let a page sound only after the person interacted
// with it, so the first click or key unlocks it; from then on tones play with the tab behind too.
let audio = null;
const unlockSound = () => {
  try {
    audio ??= new AudioContext();
    audio.resume().catch(() => {});
  } catch {
    // No Web Audio here: alerts still count and notify.
  }
};
document.addEventListener('pointerdown', unlockSound, { once: true });
document.addEventListener('keydown', unlockSound, { once: true });

// A short tone and a desktop notification, with the tab in front or behind.
function raiseAlert(title, body, conversationId) {
  window.centralitaAlerts += 1;
  try {
    audio ??= new AudioContext();
    if (audio.state === 'suspended') audio.resume().catch(() => {});
    const tone = audio.createOscillator();
    tone.frequency.value = 880;
    tone.connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.15);
  } catch {
    // No sound without a user gesture on some browsers; the notification still shows.
  }
  if ('Notification' in window && Notification.permission === 'granted') {
    new Notification(title, { body: body.slice(0, 120), tag: `conversation-${conversationId}` });
  }
}
