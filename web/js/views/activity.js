// How the conversation pane words what is not a person's text: activity lines ("Ana transferred
// to Soporte"), worded here in the reader's language from the facts the server stores, and the
// author of automatic messages (the rule's name). Also which groups a transfer may offer.
import { t } from '../i18n.js';

// The line for an activity, in the reader's language.
export function activityText(activity) {
  const actor = activity.actor?.name ?? '';
  const target = activity.target?.name ?? '';
  switch (activity.kind) {
    case 'transferred': return t('activity.transferred', { actor, target });
    case 'assigned': return activity.actor ? t('activity.assigned_by', { actor, target }) : t('activity.assigned', { target });
    case 'taken': return t('activity.taken', { actor });
    case 'finalized': return activity.actor?.kind === 'rule' ? t('activity.finalized_by_rule', { actor }) : t('activity.finalized', { actor });
    default: return '';
  }
}

// What a bubble says.
export function messageText(message) {
  return message.activity ? activityText(message.activity) : message.text;
}

// Who a bubble is from: the customer, the agent, or the rule that wrote it.
export function authorName(message, conversation) {
  if (message.author.kind === 'customer') return conversation.contact.name || t('conversations.customer');
  if (message.author.kind === 'system') return message.activity ? '' : message.author.name || t('conversations.automatic');
  return message.author.name ?? '';
}

// Whether an agent takes work now, as routing decides it: online, available, automatic, a free slot.
const takesWork = (agent) => agent.online && agent.available && agent.mode === 'automatic' && agent.load < agent.capacity;

// Groups a transfer may go to: not the one it is in, nor one of mine where nobody else takes work
// now (routing would give it straight back to me). The server refuses both too.
export function transferGroups(groups, agents, conversation, me) {
  return groups.filter((group) => {
    if (group.id === conversation.group?.id) return false;
    const serving = agents.filter((agent) => agent.groups?.includes(group.id));
    const mine = serving.some((agent) => agent.id === me);
    return !mine || serving.some((agent) => agent.id !== me && takesWork(agent));
  });
}
