import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Hostname } from '../../model/primitives.js';
import type { AppDeps } from '../deps.js';

const NameParams = z.object({ name: Hostname });

/** Reinstall, cancel, progress and install history: operator actions that the lifecycle carries out, and its views. */
export const lifecycleRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, { lifecycle, views }) => {
  app.post(
    '/machines/:name/reinstall',
    {
      schema: {
        tags: ['lifecycle'],
        summary: 'Reinstall: one-time PXE boot through the BMC, power cycle, install, converge',
        params: NameParams,
        querystring: z.object({ force: z.enum(['true', 'false', '1', '0']).optional() }),
      },
    },
    async (req, reply) => {
      const s = await lifecycle.reinstall(req.params.name, { force: req.query.force === 'true' || req.query.force === '1' });
      return reply.code(202).send({ machine: s.machine, state: s.state, installId: s.installId, progress: `/api/v1/machines/${s.machine}/progress` });
    },
  );

  app.post('/machines/:name/cancel', { schema: { tags: ['lifecycle'], summary: 'Cancel a running reinstall', params: NameParams } }, async (req) => {
    const s = await lifecycle.cancel(req.params.name);
    return { machine: s.machine, state: s.state, phase: s.phase, reason: s.reason };
  });

  app.post(
    '/machines/:name/converge/:mode',
    {
      schema: {
        tags: ['lifecycle'],
        summary: 'Converge an installed machine: plan (what would change), apply, or audit (drift)',
        params: z.object({ name: Hostname, mode: z.enum(['plan', 'apply', 'audit']) }),
      },
    },
    async (req) => {
      const r = await lifecycle.converger.now(req.params.name, req.params.mode);
      return { ...(r.report as object), ok: r.ok, ...(r.ok ? {} : { error: { message: r.reason } }) };
    },
  );

  app.get(
    '/machines/:name/progress',
    {
      schema: {
        tags: ['lifecycle'],
        summary: 'State, phase, step k of n, deadline and the events of the current install',
        params: NameParams,
        querystring: z.object({ events: z.coerce.number().int().min(0).max(10000).default(200) }),
      },
    },
    async (req) => views.progress(req.params.name, req.query.events),
  );

  app.get('/progress', { schema: { tags: ['lifecycle'], summary: 'Every machine: state, phase, step k of n, deadline and its last event (no event lists)' } }, async () =>
    views.summaries(),
  );

  app.get(
    '/machines/:name/installs',
    { schema: { tags: ['lifecycle'], summary: 'Install history, newest first: start, end, how far it got and why it failed (as far back as events are kept)', params: NameParams } },
    async (req) => views.installs(req.params.name),
  );
};
