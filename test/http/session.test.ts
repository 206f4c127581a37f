import t from 'tap';
import { cookieValue, Sessions } from '../../server/http/session.js';

/** Console sessions live in the signed cookie alone: what makes one valid, and what ends it. */

t.test('a session is valid for 12 hours, for the API token it was made under, as it was made', async (t) => {
  let now = Date.parse('2026-11-30T10:00:00Z');
  const sessions = new Sessions('token-A-0123456789abcdef', () => now);
  const { value, expires } = sessions.create();
  t.equal(expires.toISOString(), '2026-11-30T22:00:00.000Z');
  const csrf = sessions.csrf(value);
  t.ok(csrf, 'valid');
  t.ok(sessions.csrfMatches(value, csrf), 'its CSRF token matches');
  t.not(sessions.csrf(sessions.create().value), csrf, 'each session has its own CSRF token');
  t.equal(new Sessions('token-A-0123456789abcdef', () => now).csrf(value), csrf, 'another instance (or a restart) with the same token accepts it');
  t.equal(new Sessions('token-B-0123456789abcdef', () => now).csrf(value), undefined, 'a new API token ends it');
  const [nonce, expiry, mac] = value.split('.');
  t.equal(sessions.csrf(`${nonce}.${Number(expiry) + 3_600_000}.${mac}`), undefined, 'a longer life written into it is no session');
  t.equal(sessions.csrf(`${nonce.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'))}.${expiry}.${mac}`), undefined, 'nor another nonce');
  t.notOk(sessions.csrfMatches(value, undefined), 'no header, no match');
  t.notOk(sessions.csrfMatches(value, `${csrf}x`), 'a longer one neither');
  now += 12 * 3_600_000;
  t.equal(sessions.csrf(value), undefined, 'expired at its end');
});

t.test('cookieValue reads one cookie among others', async (t) => {
  t.equal(cookieValue('a=1; kickstand_session=x.y.z; b=2', 'kickstand_session'), 'x.y.z');
  t.equal(cookieValue('kickstand_sessionx=1', 'kickstand_session'), undefined);
  t.equal(cookieValue(undefined, 'kickstand_session'), undefined);
});
