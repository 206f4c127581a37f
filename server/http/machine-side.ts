import type { FastifyInstance } from 'fastify';
import { baseUrl } from '../model/boot-urls.js';
import { lazyRequestLogger } from './lazy-request-logger.js';

/**
 * What every /boot route plugin that answers machines sets up: bodies as text (busybox wget
 * posts as x-www-form-urlencoded, curl --data-binary too), at most 1 MiB (413 above), lazy
 * request logs, and a Host header that can be part of the URLs it serves, or 400.
 */
export function machineSide(app: FastifyInstance, publicUrl: string | undefined): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 1 << 20 }, (_req, body, done) => done(null, body));
  app.setChildLoggerFactory(lazyRequestLogger);
  app.addHook('onRequest', async (req, reply) => {
    if (baseUrl(publicUrl, req.headers.host) === undefined) return reply.code(400).type('text/plain').send('# bad Host header\n');
  });
}
