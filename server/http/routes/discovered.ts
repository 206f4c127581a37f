import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AcceptBody } from '../../discovery/service.js';
import type { DiscoveredEntry } from '../../model/discovery.js';
import { publicMachine } from '../../model/machine.js';
import { Hostname } from '../../model/primitives.js';
import type { AppDeps } from '../deps.js';
import { notFound } from '../errors.js';

const IdParams = z.object({ id: z.string().regex(/^[0-9a-f]{12}$/, 'a discovered box id: 12 hex digits') });
const NameParams = z.object({ name: Hostname });
const iso = (ms: number) => new Date(ms).toISOString();

/** An entry as the list shows it: everything but the full report. */
function summary(e: DiscoveredEntry) {
  return {
    id: e.id,
    macs: e.macs,
    state: e.state,
    summary: e.summary,
    ...(e.rule ? { rule: e.rule } : {}),
    ...(e.reason ? { reason: e.reason } : {}),
    ...(e.machine ? { machine: e.machine } : {}),
    ...(e.replaces ? { replaces: e.replaces } : {}),
    ...(e.ip ? { ip: e.ip } : {}),
    firstSeenAt: iso(e.firstSeenAt),
    seenAt: iso(e.seenAt),
  };
}

/** Operators: boxes that reported their hardware, rules explained, accept/reject, and a machine's hardware. */
export const discoveredRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, { discovery, reads }) => {
  const missing = (id: string) => ({ error: 'Not Found', message: `no discovered box with id ${id}` });

  app.get('/discovered', { schema: { tags: ['discovery'], summary: 'Boxes that reported their hardware without being machines (yet)' } }, async () =>
    (await discovery.list()).map(summary),
  );

  app.get('/discovered/:id', { schema: { tags: ['discovery'], summary: 'One discovered box with its full hardware report', params: IdParams } }, async (req, reply) => {
    const e = await discovery.get(req.params.id);
    return e ? { ...summary(e), inventory: e.inventory } : reply.code(404).send(missing(req.params.id));
  });

  app.get(
    '/discovered/:id/rules',
    { schema: { tags: ['discovery'], summary: 'Which rule matches this box, and why each other rule does not', params: IdParams } },
    async (req, reply) => (await discovery.explain(req.params.id)) ?? reply.code(404).send(missing(req.params.id)),
  );

  app.post(
    '/discovered/:id/accept',
    {
      schema: {
        tags: ['discovery'],
        summary: 'Make the box a machine: the profile is checked against its hardware first (409 naming the field on a misfit)',
        params: IdParams,
        body: AcceptBody,
      },
    },
    async (req, reply) => {
      const done = await discovery.accept(req.params.id, req.body);
      // Never the BMC password (the accept body may carry one), as every machine response.
      const machine = { ...publicMachine(done.machine), state: (await reads.status(done.machine.name))?.state ?? 'registered' };
      return reply.code(201).send({ machine, entry: summary(done.entry), reinstall: done.reinstall });
    },
  );

  app.post('/discovered/:id/reject', { schema: { tags: ['discovery'], summary: 'Reject the box: its agent is told to power off', params: IdParams } }, async (req) =>
    summary(await discovery.reject(req.params.id)),
  );

  app.delete('/discovered/:id', { schema: { tags: ['discovery'], summary: 'Forget the box (it is discovered again when it netboots)', params: IdParams } }, async (req, reply) =>
    (await discovery.remove(req.params.id)) ? reply.code(204).send() : reply.code(404).send(missing(req.params.id)),
  );

  app.get('/machines/:name/hardware', { schema: { tags: ['machines'], summary: "The machine's newest hardware report (discovery or its last install)", params: NameParams } }, async (req, reply) => {
    const hw = await discovery.hardware(req.params.name);
    if (!hw) return reply.code(404).send(notFound('hardware report for a machine', req.params.name));
    return { machine: req.params.name, source: hw.source, reportedAt: iso(hw.reportedAt), inventory: hw.inventory };
  });
};
