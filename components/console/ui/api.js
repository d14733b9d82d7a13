// The console's only way to the server: the public API under /api/v1, with
// the bearer token the user pasted. The token lives in sessionStorage, so it
// is gone when the tab closes and is never sent anywhere but this origin.

const TOKEN_KEY = 'prompthelm.token';

export const SCOPES = [
  'prompts:read',
  'prompts:write',
  'gateway:execute',
  'analytics:read',
  'audit:read',
  'feedback:write',
  'admin',
];

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// An error answer of the API, carrying its envelope
// ({statusCode, errorCode, message, requestId, details}).
export class ApiError extends Error {
  constructor(status, envelope, fallback) {
    super(envelope?.message || fallback || `The server answered ${status}.`);
    this.name = 'ApiError';
    this.status = status;
    this.code = envelope?.errorCode || null;
    this.requestId = envelope?.requestId || null;
    this.details = envelope?.details || null;
  }

  // What to tell the user: for 401 and 403 the API's own message says which
  // token problem or which missing scope, so it is always part of the text.
  get explanation() {
    const message = /[.!?]$/.test(this.message) ? this.message : `${this.message}.`;
    if (this.status === 401) {
      return `Your token was not accepted: ${message} Sign in again with a valid token.`;
    }
    if (this.status === 403) {
      return `Your token may not do this: ${message}`;
    }
    if (this.status === 0) {
      return this.message;
    }
    return this.code ? `${this.message} (${this.code})` : this.message;
  }
}

function url(path, query) {
  const u = new URL(`/api/v1${path}`, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') {
      u.searchParams.set(key, String(value));
    }
  }
  return u;
}

async function send(path, { method = 'GET', query, body, signal, token } = {}) {
  const headers = { Authorization: `Bearer ${token ?? getToken() ?? ''}` };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
  }
  let resp;
  try {
    resp = await fetch(url(path, query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
    });
  } catch (e) {
    if (e.name === 'AbortError') {
      throw e;
    }
    throw new ApiError(0, null, `Could not reach the server (${e.message}).`);
  }
  if (!resp.ok) {
    throw await errorOf(resp);
  }
  return resp;
}

async function errorOf(resp) {
  let envelope = null;
  try {
    envelope = await resp.json();
  } catch {
    // Not the envelope (a proxy's page, say): the status alone must do.
  }
  return new ApiError(resp.status, envelope);
}

// A JSON call: resolves to the parsed answer, rejects with an ApiError.
export async function api(path, options) {
  const resp = await send(path, options);
  return resp.json();
}

// Every page of a list endpoint, for lists the UI shows whole (versions).
export async function apiAll(path, query, options) {
  const rows = [];
  let cursor = null;
  do {
    const page = await api(path, { ...options, query: { ...query, limit: 200, cursor } });
    rows.push(...page.data);
    cursor = page.nextCursor;
  } while (cursor);
  return rows;
}

// POST /gateway/stream: the answer is server-sent events, read with fetch
// because EventSource can only GET. Calls onEvent with each `data:` JSON
// object as soon as its frame is complete.
export async function apiStream(path, body, onEvent, options) {
  const resp = await send(path, { ...options, method: 'POST', body });
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      break;
    }
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n');
      if (data) {
        onEvent(JSON.parse(data));
      }
    }
  }
}
