import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The console's session cookie: HttpOnly, so page scripts (and what an injection runs) never read it. */
export const SESSION_COOKIE = 'kickstand_session';
/** The header a state-changing request made with the session cookie must carry. */
export const CSRF_HEADER = 'x-csrf-token';
const LIFETIME_MS = 12 * 3_600_000;

const mac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest('base64url');
const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * Console sessions, kept in nothing but the cookie: `nonce.expiry.mac`, signed with a key derived
 * from the API token. Any instance with the same token accepts them, a restart keeps them, and a
 * new API token ends them all. The CSRF token is derived from the nonce, so it needs no storage
 * either, and a page can be told it without learning the cookie.
 */
export class Sessions {
  private readonly key: Buffer;

  constructor(
    apiToken: string,
    private readonly now: () => number = Date.now,
  ) {
    this.key = createHmac('sha256', apiToken).update('kickstand console session').digest();
  }

  /** A new session: the cookie's value and when it expires. */
  create(): { value: string; expires: Date } {
    const expires = this.now() + LIFETIME_MS;
    const body = `${randomBytes(18).toString('base64url')}.${expires}`;
    return { value: `${body}.${mac(this.key, body)}`, expires: new Date(expires) };
  }

  /** The session's CSRF token, or undefined when the cookie is not a live session of ours. */
  csrf(cookie: string | undefined): string | undefined {
    const m = /^([A-Za-z0-9_-]{24})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(cookie ?? '');
    if (!m || !same(m[3], mac(this.key, `${m[1]}.${m[2]}`)) || Number(m[2]) <= this.now()) return undefined;
    return mac(this.key, `csrf.${m[1]}`);
  }

  /** Whether `header` is the CSRF token of the session in `cookie`. */
  csrfMatches(cookie: string | undefined, header: string | undefined): boolean {
    const want = this.csrf(cookie);
    return want !== undefined && header !== undefined && same(header, want);
  }
}

/** One cookie's value from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/** The Set-Cookie header for a session (an empty value and the epoch end it). */
export function sessionCookie(value: string, expires: Date, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/; Expires=${expires.toUTCString()}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}
