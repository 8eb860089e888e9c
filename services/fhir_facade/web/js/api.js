// The workspace's only door to the facade's JSON API (see ../API.md).
//
// Every call carries the bearer token kept in sessionStorage (never in a
// URL, never in localStorage: it dies with the tab). A 401 clears the token
// and calls the handler the app registers (back to sign-in). Other failures
// throw an ApiError carrying the HTTP status and the server's message.

const TOKEN_KEY = 'parallax.token';
const ME_KEY = 'parallax.me';

let unauthorizedHandler = () => {};

/** An API failure: `status` is the HTTP status (0 when the network failed). */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
  /** A one-line message for a person, prefixed by what kind of failure it is. */
  describe() {
    switch (this.status) {
      case 0: return `Cannot reach the server: ${this.message}`;
      case 400: return `Not accepted: ${this.message}`;
      case 401: return `Signed out: ${this.message}`;
      case 403: return `Not allowed: ${this.message}`;
      case 404: return `Not found: ${this.message}`;
      case 409: return `The study changed meanwhile: ${this.message} (reload)`;
      case 503: return `A service is unreachable: ${this.message}`;
      default: return `Error ${this.status}: ${this.message}`;
    }
  }
}

export function onUnauthorized(handler) { unauthorizedHandler = handler; }

export function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

/** The signed-in user's Me object, or null. */
export function me() {
  try { return JSON.parse(sessionStorage.getItem(ME_KEY) || 'null'); } catch { return null; }
}

export function clearSession() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(ME_KEY);
}

async function errorFrom(response) {
  let message = response.statusText || 'request failed';
  try {
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      if (body && typeof body.error === 'string' && body.error) message = body.error;
    } catch {
      if (text && text.length < 300) message = text;
    }
  } catch { /* keep the status text */ }
  return new ApiError(response.status, message);
}

/**
 * Sends one request. `options.json` is sent as a JSON body; `options.signal`
 * aborts it. Returns the Response on 2xx; throws ApiError otherwise (after
 * calling the unauthorized handler on 401).
 */
async function send(path, options = {}) {
  const headers = { Accept: options.accept || 'application/json' };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  const init = { method: options.method || 'GET', headers, signal: options.signal, cache: 'no-store' };
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(options.json);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, e && e.message ? e.message : 'network error');
  }
  if (response.ok) return response;
  const error = await errorFrom(response);
  if (response.status === 401 && !options.noAuthRedirect) {
    clearSession();
    unauthorizedHandler(error);
  }
  throw error;
}

/** GET/POST returning parsed JSON. */
export async function getJson(path, options = {}) {
  const response = await send(path, options);
  return response.json();
}

export function postJson(path, body, options = {}) {
  return getJson(path, { ...options, method: 'POST', json: body });
}

/** GET returning {buffer, headers}. */
export async function getBinary(path, options = {}) {
  const response = await send(path, { ...options, accept: 'application/octet-stream' });
  return { buffer: await response.arrayBuffer(), headers: response.headers };
}

/** GET returning a Blob (e.g. a heatmap PNG). */
export async function getBlob(path, options = {}) {
  const response = await send(path, { ...options, accept: 'image/png' });
  return response.blob();
}

/** Signs in; keeps token and Me in sessionStorage. Returns Me. */
export async function signIn(user, password) {
  const response = await send('/api/session', {
    method: 'POST', json: { user, password }, noAuthRedirect: true,
  });
  const body = await response.json();
  if (!body || !body.token) throw new ApiError(500, 'the server answered no token');
  sessionStorage.setItem(TOKEN_KEY, body.token);
  if (body.me) sessionStorage.setItem(ME_KEY, JSON.stringify(body.me));
  return body.me;
}

/** Refreshes Me from GET /api/me (also checks the kept token still works). */
export async function refreshMe() {
  const m = await getJson('/api/me');
  sessionStorage.setItem(ME_KEY, JSON.stringify(m));
  return m;
}

/** Encodes one path segment (keys and ids are opaque). */
export function seg(value) { return encodeURIComponent(String(value)); }
