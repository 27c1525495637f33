// Small inline SVG icons, built with DOM APIs (never parsed from markup): the channel kinds the
// desk has (widget, api) and the ones coming (whatsapp, telegram, email), and a few for the
// workspace's buttons. Each path is drawn on a 24×24 grid with the current text colour.
const SVG = 'http://www.w3.org/2000/svg';

// Stroked outlines, one or more paths each.
const PATHS = {
  widget: ['M4 5h16v11H9l-5 4z', 'M8 10h8', 'M8 13h5'],
  api: ['M9 7l-5 5 5 5', 'M15 7l5 5-5 5', 'M13 5l-2 14'],
  whatsapp: ['M4 20l1.4-4.2A8 8 0 1 1 8.4 19z', 'M9 9.5c.5 2.5 2.5 4.5 5 5l1.3-1.3-1.8-.9-.8.8c-1-.4-1.9-1.3-2.3-2.3l.8-.8-.9-1.8z'],
  telegram: ['M3 11l18-7-3 16-6-5-3 4v-6l9-7-11 6z'],
  email: ['M3 6h18v12H3z', 'M3 7l9 6 9-6'],
  back: ['M15 5l-7 7 7 7'],
  panel: ['M3 5h18v14H3z', 'M15 5v14'],
  agents: ['M9 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6z', 'M3 19c0-3 3-5 6-5s6 2 6 5', 'M16 5a3 3 0 0 1 0 6', 'M18 14c2 .5 3 2.5 3 5'],
  unknown: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z'],
};

// An icon by name; `label` gives it an accessible name, else it is hidden from screen readers
// (the text next to it says the same).
export function icon(name, { label = null, size = 16 } = {}) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('fill', 'none');
  svg.setAttribute('stroke', 'currentColor');
  svg.setAttribute('stroke-width', '1.8');
  svg.setAttribute('stroke-linecap', 'round');
  svg.setAttribute('stroke-linejoin', 'round');
  svg.setAttribute('class', `icon icon-${PATHS[name] ? name : 'unknown'}`);
  svg.dataset.icon = name;
  if (label) {
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
    const title = document.createElementNS(SVG, 'title');
    title.textContent = label;
    svg.append(title);
  } else {
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
  }
  for (const d of PATHS[name] ?? PATHS.unknown) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

// The channel kinds an icon exists for.
export const CHANNEL_KINDS = ['widget', 'api', 'whatsapp', 'telegram', 'email'];

// A channel's icon, named by its kind (`label`: the kind in the reader's language).
export function channelIcon(kind, label) {
  return icon(CHANNEL_KINDS.includes(kind) ? kind : 'unknown', { label });
}
