/**
 * The floor for the kickstart benchmark: `tsx bench/render/floor.ts BYTES`. A bare fastify app
 * (same version, logger and per-request child logger factory as kickstand's /boot routes)
 * answering a constant text of BYTES bytes, so the results separate what kickstand's own work
 * costs from what Node and fastify cost. Prints {port}.
 */
import Fastify from 'fastify';
import { lazyRequestLogger } from '../../server/http/lazy-request-logger.js';
import { createLogger } from '../../server/log.js';

const bytes = Number(process.argv[2]);
if (!bytes) {
  console.error('usage: floor.ts BYTES');
  process.exit(2);
}
const text = 'k'.repeat(bytes);
const app = Fastify({ loggerInstance: createLogger({ level: 'warn' }) });
app.setChildLoggerFactory(lazyRequestLogger);
app.get('/boot/kickstart', async (_req, reply) => reply.type('text/plain; charset=utf-8').send(text));
await app.listen({ host: '127.0.0.1', port: 0 });
console.log(JSON.stringify({ port: (app.server.address() as { port: number }).port }));
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
