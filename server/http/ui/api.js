// The console's only way to the server: the operator API, signed in by the session cookie the
// browser sends by itself. Requests that change something carry the session's CSRF token.

let csrf = '';
let signedOut = () => {};

/** Set once signed in: the CSRF token GET /ui/session or the sign-in answered. */
export function startSession(token, onSignedOut) {
  csrf = token;
  signedOut = onSignedOut;
}

/** The server does not know this session (expired, or the API token changed): sign in again. */
export function notSignedIn() {
  signedOut();
}

export class ApiError extends Error {
  constructor(status, body) {
    super(typeof body === 'object' && body?.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** One API call: JSON in and out (text for text answers); throws ApiError on a status >= 400. */
export async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) notSignedIn();
  const text = await res.text();
  const data = (res.headers.get('content-type') ?? '').includes('json') && !path.includes('/render/') ? JSON.parse(text || 'null') : text;
  if (!res.ok) throw new ApiError(res.status, typeof data === 'string' ? safeJson(data) : data);
  return data;
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

/** Signs out (the server clears the cookie) and shows the sign-in form. */
export async function signOut() {
  await fetch('/ui/session', { method: 'DELETE', headers: { 'x-csrf-token': csrf } });
  notSignedIn();
}
