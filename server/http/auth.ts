import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Bearer check in constant time (hashing first makes lengths equal). */
export function bearerAuth(token: string) {
  const want = digest(token);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m || !timingSafeEqual(digest(m[1].trim()), want)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="kickstand"')
        .send({ error: 'Unauthorized', message: 'a bearer token is required (Authorization: Bearer $KICKSTAND_API_TOKEN)' });
    }
  };
}
