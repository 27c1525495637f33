// Spanish and English strings from /i18n/{es,en}.json. The language is the user's saved choice,
// else the one picked on this browser, else the browser's own.
const SUPPORTED = ['es', 'en'];
let strings = {};
let current = 'es';

export function browserLanguage() {
  const stored = localStorage.getItem('language');
  if (SUPPORTED.includes(stored)) return stored;
  const preferred = (navigator.languages ?? [navigator.language]).map((l) => String(l).slice(0, 2).toLowerCase());
  return preferred.find((l) => SUPPORTED.includes(l)) ?? 'es';
}

export async function setLanguage(language) {
  current = SUPPORTED.includes(language) ? language : 'es';
  const response = await fetch(`/i18n/${current}.json`);
  strings = await response.json();
  document.documentElement.lang = current;
  localStorage.setItem('language', current);
}

export function language() {
  return current;
}

// The text for a key, with {name} placeholders filled in.
export function t(key, vars = {}) {
  const text = strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

export function has(key) {
  return Object.hasOwn(strings, key);
}
