// The REST API as the UI uses it: JSON in and out, the session's CSRF token on every change, and
// errors as ApiError with the server's stable code, message and field.
export class ApiError extends Error {
  constructor(status, code, message, field, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

let csrf = null;

export function setCsrf(token) {
  csrf = token ?? null;
}

export async function api(method, path, body) {
  return (await send(method, path, body)).data;
}

// A list and how many the server matched in all before its limit (X-Total-Count), for "and N more".
export async function getCounted(path) {
  const { data, response } = await send('GET', path);
  const total = Number(response.headers.get('X-Total-Count'));
  return { items: data ?? [], total: Number.isFinite(total) && response.headers.has('X-Total-Count') ? total : (data ?? []).length };
}

// A page of a paged list, and the `before` of the next one (X-Next-Before), null on the last.
export async function getPage(path) {
  const { data, response } = await send('GET', path);
  return { items: data ?? [], next: response.headers.get('X-Next-Before') };
}

async function send(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (csrf && method !== 'GET') headers['X-CSRF-Token'] = csrf;
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'network', navigator.onLine === false ? 'offline' : 'network');
  }
  if (response.status === 204) return { data: null, response };
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error ?? {};
    const retryAfter = Number(response.headers.get('Retry-After')) || undefined;
    throw new ApiError(response.status, error.code ?? 'unknown', error.message ?? response.statusText, error.field, retryAfter);
  }
  return { data, response };
}

export const get = (path) => api('GET', path);
export const post = (path, body = {}) => api('POST', path, body);
export const patch = (path, body) => api('PATCH', path, body);
export const del = (path) => api('DELETE', path);
