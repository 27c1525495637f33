// Spanish and English strings from i18n/{es,en}.json. The language is the user's saved choice,
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

// The strings sit beside this module (under the versioned, long-cached prefix when the page loaded
// from it). Each language is fetched once; the likely one starts at once, while the page asks the
// server who is signed in, instead of one round trip after it.
const loading = new Map();
function load(language) {
  if (!loading.has(language)) {
    const strings = fetch(new URL(`../i18n/${language}.json`, import.meta.url)).then((response) => {
      if (!response.ok) throw new Error(`i18n ${language}: ${response.status}`);
      return response.json();
    });
    strings.catch(() => loading.delete(language));
    loading.set(language, strings);
  }
  return loading.get(language);
}
load(browserLanguage());

export async function setLanguage(language) {
  current = SUPPORTED.includes(language) ? language : 'es';
  strings = await load(current);
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
