import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { StoredEvent } from '../../model/events.js';
import type { AppDeps } from '../deps.js';

/**
 * Server-Sent Events. Resumable: the backlog after Last-Event-ID (header or query) is sent
 * first, then live events; subscribing before reading the backlog means none fall in between.
 *
 * Where other instances write to the same database (PostgreSQL: reads.watchEvents), every event
 * is sent from a read of the store by id, after the last id sent: such a read is started by this
 * instance's own events (low latency) and by the store's word that any instance committed some,
 * one read at a time. Ids from several instances interleave, and each is sent once, in order
 * (a committed id means every smaller one has committed or never will: postgres.ts). Only this
 * stream reads other instances' events: EventLog.subscribe, which the lifecycle observes, stays
 * this instance's own.
 */
export const eventRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, { reads, events, logger }) => {
  // A stream never ends by itself, and the server's close waits for every connection: an open
  // console tab or `kickstand watch` would hold a shutdown. Ended first, their clients reconnect
  // (to this instance once it is back, or another) from the last id they saw.
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });

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
      let closed = false;
      const send = (e: StoredEvent) => {
        if (closed || e.id <= last || (machine && e.machine !== machine)) return;
        last = e.id;
        reply.raw.write(`id: ${e.id}\nevent: ${e.kind}\ndata: ${JSON.stringify(e)}\n\n`);
      };
      /** Sends everything stored after `last`, a page at a time. */
      const readOn = async () => {
        for (;;) {
          const batch = await reads.events({ machine, afterId: last, limit: 1000 });
          batch.forEach(send);
          if (batch.length < 1000 || closed) return;
        }
      };

      const watch = reads.watchEvents;
      // Watching: one read at a time; a call while one runs asks for one more after it.
      let reading: Promise<void> | undefined;
      let again = false;
      const pump = (): void => {
        if (!live || closed) return;
        if (reading) {
          again = true;
          return;
        }
        reading = (async () => {
          try {
            do {
              again = false;
              await readOn();
            } while (again && !closed);
          } catch (err) {
            // The next event (or the watcher's reconnect) reads again from `last`.
            logger.warn({ err }, 'event stream: the store could not be read');
          } finally {
            reading = undefined;
          }
        })();
      };
      const unsubscribe = watch
        ? (() => {
            const local = events.subscribe((e) => e.id > last && (!machine || e.machine === machine) && pump());
            const remote = watch((lastId) => (lastId === undefined || lastId > last) && pump());
            return () => {
              local();
              remote();
            };
          })()
        : events.subscribe((e) => (live ? send(e) : pending.push(e)));

      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      reply.raw.write(': kickstand events\n\n');
      const heartbeat = setInterval(() => reply.raw.write(': keep-alive\n\n'), 15000);
      const stop = () => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        unsubscribe();
        open.delete(ended);
      };
      req.raw.on('close', stop);
      reply.raw.on('close', stop);
      // The server keeps half-closed connections (app.ts: httpAllowHalfOpen), so a client that
      // went away would hold its stream open until the server closes: a peer that ends its side
      // gets the backlog, and then the stream ends.
      let peerEnded = false;
      let backlogSent = false;
      function ended() {
        stop();
        reply.raw.end();
      }
      open.add(ended);
      req.raw.socket.once('end', () => {
        peerEnded = true;
        if (backlogSent) ended();
      });
      await events.flush();
      if (watch) {
        // Everything a trigger before now announced has committed: the first read covers it.
        live = true;
        pump();
        await reading;
      } else {
        await readOn();
        live = true;
        pending.splice(0).forEach(send);
      }
      backlogSent = true;
      if (peerEnded) ended();
    },
  );
};
