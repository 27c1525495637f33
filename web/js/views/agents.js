// The agents table for those who oversee: who is online and accepting, each one's load, and for
// administrators each agent's own cap and assignment mode. Shown in the workspace's middle pane
// when the strip's "Agents" button is pressed; loads move live from `agents.changed`.
import { get, api } from '../api.js';
import { t } from '../i18n.js';
import { h, replace } from '../dom.js';
import { errorText, roles } from './common.js';
import { view } from './workspace.js';
import { toast } from '../ui.js';

// The section the table lives in (its rows are drawn by `renderAgents`).
export function agentsSection() {
  view.agentsBox = h('section', { class: 'ws-agents', id: 'ws-agents', 'aria-labelledby': 'ws-agents-title', hidden: true },
    h('h2', { id: 'ws-agents-title' }, t('conversations.agents')),
    h('div', { 'data-testid': 'agents-table' }));
  return view.agentsBox;
}

export async function loadAgents() {
  view.agents = await get('/agents');
  view.groups = await get('/groups').catch(() => []);
  renderAgents();
}

// `agents.changed`: the agents whose load, slots, status, mode or groups moved, applied to the
// rows in place. One not listed yet (just made an agent) means reading the list again, for their name.
export async function applyAgentsChanged(changed) {
  if (changed.some((c) => !view.agents.some((a) => a.id === c.id))) return loadAgents();
  view.agents = view.agents.map((a) => ({ ...a, ...changed.find((c) => c.id === a.id) }));
  renderAgents();
}

function renderAgents() {
  const table = view.agentsBox?.querySelector('[data-testid="agents-table"]');
  // Redrawn only when a figure in it changed: the panel ticks every second while things move.
  const shown = JSON.stringify(view.agents);
  if (!table || table.dataset.shown === shown) return;
  table.dataset.shown = shown;
  replace(table, h('table', {},
    h('thead', {}, h('tr', {}, ['field.name', 'conversations.agent_status', 'conversations.load'].map((k) => h('th', {}, t(k))))),
    h('tbody', {}, view.agents.length ? view.agents.map(agentRow) : h('tr', {}, h('td', { colspan: 3, class: 'muted' }, t('conversations.no_agents'))))));
}

const agentRow = (a) => h('tr', {},
  h('td', {}, a.name),
  h('td', {}, `${a.online ? t('conversations.online') : t('conversations.offline')} · ${a.available ? t('conversations.available') : t('conversations.unavailable')}`),
  h('td', {}, `${a.load} / ${a.capacity}`, roles().includes('admin') ? agentSettings(a) : null));

// Administrators set an agent's own cap and assignment mode right from the table; what they
// changed and not yet saved outlives a redraw of the table.
const agentEdits = new Map();

function agentSettings(agent) {
  const edit = agentEdits.get(agent.id) ?? {};
  const remember = () => agentEdits.set(agent.id, { cap: cap.value, mode: mode.value });
  const cap = h('input', { type: 'number', min: 1, max: 100, value: edit.cap ?? agent.own_capacity ?? '', 'aria-label': t('conversations.own_capacity'), class: 'narrow-input', oninput: remember });
  const mode = h('select', { 'aria-label': t('conversations.mode'), onchange: remember }, ['automatic', 'manual', 'none'].map((m) => h('option', { value: m }, t(`conversations.mode_${m}`))));
  mode.value = edit.mode ?? agent.mode;
  const save = async () => {
    try {
      await api('PATCH', `/agents/${agent.id}`, { capacity: cap.value ? Number(cap.value) : null, mode: mode.value });
      agentEdits.delete(agent.id);
      await loadAgents();
    } catch (err) {
      toast(errorText(err), { kind: 'error' });
    }
  };
  return h('div', { class: 'actions small' }, cap, mode, h('button', { type: 'button', class: 'secondary', onclick: save }, t('common.save')));
}
