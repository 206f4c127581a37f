import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { StoredEvent } from '../../model/events.js';
import type { AppDeps } from '../deps.js';

/**
 * Server-Sent Events. Resumable: the backlog after Last-Event-ID (header or query) is sent
 * first, then live events; subscribing before reading the backlog means none fall in between.
 */
export const eventRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, { reads, events }) => {
  app.get(
    '/events',
    {
      schema: {
        tags: ['lifecycle'],
        summary: 'Live event stream (text/event-stream), filter by machine, resumable with Last-Event-ID',
        querystring: z.object({ machine: z.string().optional(), lastEventId: z.coerce.number().int().min(0).optional() }),
      },
    },
    async (req, reply) => {
      const { machine } = req.query;
      let last = req.query.lastEventId ?? Number(req.headers['last-event-id'] ?? 0);
      if (!Number.isFinite(last) || last < 0) last = 0;
      const pending: StoredEvent[] = [];
      let live = false;
      const send = (e: StoredEvent) => {
        if (e.id <= last || (machine && e.machine !== machine)) return;
        last = e.id;
        reply.raw.write(`id: ${e.id}\nevent: ${e.kind}\ndata: ${JSON.stringify(e)}\n\n`);
      };
      const unsubscribe = events.subscribe((e) => (live ? send(e) : pending.push(e)));
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      reply.raw.write(': kickstand events\n\n');
      const heartbeat = setInterval(() => reply.raw.write(': keep-alive\n\n'), 15000);
      req.raw.on('close', () => {
        clearInterval(heartbeat);
        unsubscribe();
      });
      await events.flush();
      for (;;) {
        const batch = await reads.events({ machine, afterId: last, limit: 1000 });
        batch.forEach(send);
        if (batch.length < 1000) break;
      }
      live = true;
      pending.splice(0).forEach(send);
    },
  );
};
