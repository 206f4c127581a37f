import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { baseUrl } from '../../model/boot-urls.js';
import { Inventory } from '../../model/hardware.js';
import type { AppDeps } from '../deps.js';
import { machineSide } from '../machine-side.js';
import { TokenQuery, tokenQueryValidator } from '../token-query.js';

const Action = z.object({ action: z.enum(['wait', 'reboot', 'poweroff']) });

/**
 * The machine side of discovery: the agent script, the discovery kickstart, the hardware report
 * and the agent's "what next". Everything but the agent script needs the boot's token, from the
 * address it was handed to.
 */
export const discoveryBootRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, deps) => {
  const { discovery, events, renderers } = deps;
  machineSide(app, deps.config.http.publicUrl);
  const base = (host: string | undefined) => baseUrl(deps.config.http.publicUrl, host)!;

  app.get(
    '/discovery/agent',
    { schema: { tags: ['boot'], summary: "The inventory agent: a POSIX shell script without secrets, for the discovery boot, every install's %pre, or an operator's own live image" } },
    async (_req, reply) => reply.type('text/x-shellscript; charset=utf-8').send(renderers.agent()),
  );

  app.get(
    '/discovery/kickstart',
    { schema: { tags: ['boot'], summary: 'The kickstart of a discovery boot: its %pre runs the agent and never installs', querystring: TokenQuery }, validatorCompiler: tokenQueryValidator },
    async (req, reply) => {
      const check = await discovery.checkKickstart(req.query.token, req.ip);
      if (!check.ok) {
        events.report({ ...(await deps.reads.machineAt(req.ip)), ip: req.ip, kind: 'kickstart', level: 'warn', message: `discovery kickstart refused: ${check.reason}` });
        return reply.code(check.status).type('text/plain').send(`# discovery kickstart refused: ${check.reason}\n`);
      }
      const text = renderers.discoveryKickstart({ base: base(req.headers.host), token: check.token.token });
      events.report({ mac: check.token.mac, ip: req.ip, kind: 'kickstart', level: 'info', message: `discovery kickstart served (${text.length} bytes)` });
      return reply.type('text/plain; charset=utf-8').send(text);
    },
  );

  app.post(
    '/inventory',
    {
      schema: {
        tags: ['boot'],
        summary: "A hardware report (JSON, at most 1 MiB): a discovery boot's (its token, once) or an install's own (the install token); 409 when the install's profile does not fit",
        querystring: TokenQuery,
        body: Inventory,
      },
      // The body is checked by the discovery service (it arrives as text, like every /boot body).
      validatorCompiler: (route) => (route.httpPart === 'body' ? () => true : validatorCompiler(route as unknown as Parameters<typeof validatorCompiler>[0])),
    },
    async (req, reply) => {
      const outcome = await discovery.report(req.query.token, req.ip, typeof req.body === 'string' ? req.body : '');
      if (!outcome.ok) {
        // The agent prints a 409's body to the installer's log: the reason, as text.
        if (outcome.status === 409) return reply.code(409).type('text/plain; charset=utf-8').send(`${outcome.reason}\n`);
        return reply.code(outcome.status).send({ error: outcome.status === 400 ? 'Bad Request' : outcome.status === 410 ? 'Gone' : 'Refused', message: outcome.reason, ...(outcome.issues ? { issues: outcome.issues } : {}) });
      }
      return { id: outcome.entry?.id, state: outcome.entry?.state, machine: outcome.machine, action: outcome.action };
    },
  );

  app.get(
    '/discovery',
    { schema: { tags: ['boot'], summary: "The agent's next step after its report: wait, reboot (into its install) or poweroff; 403/410 tell it to boot again", querystring: TokenQuery, response: { 200: Action, '4xx': z.object({ error: z.string(), message: z.string() }) } }, validatorCompiler: tokenQueryValidator },
    async (req, reply) => {
      const outcome = await discovery.action(req.query.token, req.ip);
      if (!outcome.ok) return reply.code(outcome.status).send({ error: outcome.status === 410 ? 'Gone' : 'Forbidden', message: outcome.reason });
      return { action: outcome.action };
    },
  );
};
