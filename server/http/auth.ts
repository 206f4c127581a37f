import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Bearer check in constant time (hashing first makes lengths equal). */
export function bearerAuth(token: string) {
  const want = digest(token);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    // RFC 6750: the scheme, one space, a b64token; anything else (other spaces, a list) is refused.
    const m = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(req.headers.authorization ?? '');
    if (!m || !timingSafeEqual(digest(m[1]), want)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="kickstand"')
        .send({ error: 'Unauthorized', message: 'a bearer token is required (Authorization: Bearer $KICKSTAND_API_TOKEN)' });
    }
  };
}
