// Builds DOM nodes from data. Text always goes in as text (never parsed as HTML), so whatever a
// user or customer typed cannot become markup or script.
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

let fieldCount = 0;

// A labelled input with an error slot wired for screen readers.
export function field(label, input, hint) {
  const id = input.id || `f${++fieldCount}`;
  input.id = id;
  const error = h('div', { class: 'error', id: `${id}-error`, role: 'alert' });
  input.setAttribute('aria-describedby', `${id}-error`);
  return h('div', { class: 'field', 'data-field': input.name || '' }, h('label', { for: id }, label), input, hint ? h('small', { class: 'muted' }, hint) : null, error);
}

// Shows an API error next to the field it names, or in the form's general error slot.
export function showError(form, err, fallback) {
  for (const node of form.querySelectorAll('.error')) node.textContent = '';
  for (const node of form.querySelectorAll('[aria-invalid]')) node.removeAttribute('aria-invalid');
  const name = err?.field ? err.field.replace(/\[\d+\]$/, '') : null;
  const wrapper = name ? form.querySelector(`[data-field="${CSS.escape(name)}"]`) : null;
  const slot = wrapper?.querySelector('.error') ?? form.querySelector('.form-error');
  if (wrapper) wrapper.querySelector('input,select,textarea')?.setAttribute('aria-invalid', 'true');
  if (slot) slot.textContent = err?.message ?? fallback;
  (wrapper?.querySelector('input,select,textarea') ?? slot)?.focus?.();
}

export function formatTime(ms, language) {
  if (!ms) return '';
  return new Date(ms).toLocaleString(language === 'es' ? 'es' : 'en', { dateStyle: 'medium', timeStyle: 'short' });
}
