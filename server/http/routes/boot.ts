import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { baseUrl, GRUB_CONFIG, grubConfigMac } from '../../model/boot-urls.js';
import { Mac } from '../../model/primitives.js';
import { bootScripts } from '../boot-script.js';
import type { AppDeps } from '../deps.js';
import { machineSide } from '../machine-side.js';
import { TokenQuery, tokenQueryValidator } from '../token-query.js';

/**
 * The machine side: iPXE scripts and GRUB configurations, kickstart/Ignition by install token, installer callbacks.
 * No bearer token here — machines authenticate with their per-install token.
 */
export const bootRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, deps) => {
  const { reads, installs, events, renderers } = deps;
  machineSide(app, deps.config.http.publicUrl);
  const base = (host: string | undefined) => baseUrl(deps.config.http.publicUrl, host)!;

  const script = bootScripts(deps);

  app.get('/ipxe', { schema: { tags: ['boot'], summary: 'The iPXE script for this MAC, by machine state', querystring: z.object({ mac: Mac }) } }, async (req, reply) => {
    reply.type('text/plain; charset=utf-8');
    return script('ipxe', { mac: req.query.mac, ip: req.ip, base: base(req.headers.host) });
  });

  // GRUB's own lookup, as over TFTP: for GRUBs that fetch their configuration over HTTP.
  app.get(
    '/grub/:file',
    {
      schema: {
        tags: ['boot'],
        summary: 'GRUB configuration: grub.cfg (sends GRUB on to its per-MAC file), or grub.cfg-01-<mac with dashes> by machine state',
        params: z.object({ file: z.string().max(64) }),
      },
    },
    async (req, reply) => {
      const { file } = req.params;
      if (`grub/${file}` === GRUB_CONFIG) return reply.type('text/plain; charset=utf-8').send(renderers.grubLookup());
      const mac = grubConfigMac(`grub/${file}`);
      if (!mac) return reply.code(404).type('text/plain').send('# no such GRUB configuration\n');
      reply.type('text/plain; charset=utf-8');
      return script('grub', { mac, ip: req.ip, base: base(req.headers.host) });
    },
  );

  const configRoute = (kind: 'kickstart' | 'ignition') =>
    app.get(`/${kind}`, { schema: { tags: ['boot'], summary: `The ${kind} of the install this token belongs to`, querystring: TokenQuery }, validatorCompiler: tokenQueryValidator }, async (req, reply) => {
      const ip = req.ip;
      const check = await installs.checkToken(req.query.token, 'fetch', ip);
      if (!check.ok) {
        events.report({ ...(await reads.machineAt(ip)), ip, kind, level: 'warn', message: `${kind} refused: ${check.reason}` });
        return reply.code(check.status).type('text/plain').send(`# ${kind} refused: ${check.reason}\n`);
      }
      const { machine, profile } = check.record;
      try {
        const text = renderers.config(kind, { machine, profile, token: check.token.token, base: base(req.headers.host) });
        events.report({ machine: machine.name, ip, kind, level: 'info', message: `${kind} served (${text.length} bytes)` });
        return reply.type(kind === 'ignition' ? 'application/json' : 'text/plain; charset=utf-8').send(text);
      } catch (err) {
        events.report({ machine: machine.name, ip, kind: 'render', level: 'error', message: (err as Error).message });
        return reply.code(500).type('text/plain').send(`# ${kind} could not be rendered: ${(err as Error).message}\n`);
      }
    });
  configRoute('kickstart');
  configRoute('ignition');

  app.post(
    '/callback/:event',
    {
      schema: {
        tags: ['boot'],
        summary: 'Installer callbacks: start, progress (?step=), hostkeys, built, failed',
        params: z.object({ event: z.enum(['start', 'progress', 'hostkeys', 'built', 'failed']) }),
        querystring: TokenQuery.extend({ step: z.string().max(200).optional() }),
      },
    },
    async (req, reply) => {
      const check = await installs.checkToken(req.query.token, 'callback', req.ip);
      if (!check.ok) {
        events.report({ ...(await reads.machineAt(req.ip)), ip: req.ip, kind: 'callback', level: 'warn', message: `${req.params.event} callback refused: ${check.reason}` });
        return reply.code(check.status).send({ error: check.status === 410 ? 'Gone' : 'Forbidden', message: check.reason });
      }
      const s = await installs.callback(check.token, req.params.event, typeof req.body === 'string' ? req.body : '', { step: req.query.step });
      return { machine: s.machine, state: s.state };
    },
  );
};
