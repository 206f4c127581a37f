import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { cookieValue, CSRF_HEADER, SESSION_COOKIE, type Sessions } from './session.js';

const digest = (s: string) => createHash('sha256').update(s).digest();
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether `candidate` is the API token, in constant time (hashing first makes lengths equal). */
export function isApiToken(token: string) {
  const want = digest(token);
  return (candidate: string) => timingSafeEqual(digest(candidate), want);
}

/**
 * The operator API's check: a bearer token (the CLI, scripts), or the console's session cookie.
 * A cookie rides along with any request the browser makes to us, a forged one from another
 * site's form included, so a request that changes something must also carry the session's
 * CSRF token in a header, which only our own pages can read and set.
 */
export function operatorAuth(token: string, sessions: Sessions) {
  const matches = isApiToken(token);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const cookie = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (req.headers.authorization === undefined && cookie !== undefined && sessions.csrf(cookie)) {
      if (SAFE.has(req.method) || sessions.csrfMatches(cookie, req.headers[CSRF_HEADER] as string | undefined)) return;
      return reply.code(403).send({ error: 'Forbidden', message: `a console request that changes something needs the session's CSRF token in ${CSRF_HEADER}` });
    }
    // RFC 6750: the scheme, one space, a b64token; anything else (other spaces, a list) is refused.
    const m = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(req.headers.authorization ?? '');
    if (!m || !matches(m[1])) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="kickstand"')
        .send({ error: 'Unauthorized', message: 'a bearer token is required (Authorization: Bearer $KICKSTAND_API_TOKEN)' });
    }
  };
}
