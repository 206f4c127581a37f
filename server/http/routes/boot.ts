import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { baseUrl } from '../../model/boot-urls.js';
import { RenderError } from '../../model/errors.js';
import { Mac } from '../../model/primitives.js';
import { configKindOf } from '../../model/renderers.js';
import type { AppDeps } from '../deps.js';
import { machineSide } from '../machine-side.js';
import { TokenQuery, tokenQueryValidator } from '../token-query.js';

/**
 * The machine side: iPXE scripts, kickstart/Ignition by install token, installer callbacks.
 * No bearer token here — machines authenticate with their per-install token.
 */
export const bootRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, deps) => {
  const { reads, installs, events, renderers, addresses, discovery } = deps;
  machineSide(app, deps.config.http.publicUrl);
  const base = (host: string | undefined) => baseUrl(deps.config.http.publicUrl, host)!;

  app.get('/ipxe', { schema: { tags: ['boot'], summary: 'The iPXE script for this MAC, by machine state', querystring: z.object({ mac: Mac }) } }, async (req, reply) => {
    const { mac } = req.query;
    const url = base(req.headers.host);
    addresses.seen(req.ip, mac);
    reply.type('text/plain; charset=utf-8');
    const record = await reads.recordByMac(mac);
    const report = (script: string, level: 'info' | 'error' = 'info', message?: string) =>
      events.report({ machine: record?.machine.name, mac, ip: req.ip, kind: 'ipxe-script', level, message: message ?? `iPXE script: ${script}`, data: { script } });
    if (!record) {
      if (deps.config.unknownMachines === 'discover') {
        const { token, withheld } = await discovery.bootToken(mac, req.ip);
        if (token) {
          report('discover');
          return renderers.ipxe('discover', { mac, base: url, token });
        }
        events.report({ mac, ip: req.ip, kind: 'ipxe-script', level: 'warn', message: `discovery token withheld from ${req.ip}: ${withheld}` });
      }
      report('unknown');
      return renderers.ipxe('unknown', { mac, base: url });
    }
    const { machine, profile } = record;
    const { token, withheld } = await installs.scriptToken(record, mac, req.ip);
    if (withheld) events.report({ machine: machine.name, mac, ip: req.ip, kind: 'ipxe-script', level: 'warn', message: `install token withheld from ${req.ip}: ${withheld}` });
    if (!token) {
      report('local');
      return renderers.ipxe('local', { mac, base: url, machine, profile });
    }
    try {
      // Render the install config now: a profile that cannot render must stop here, visibly,
      // not in the installer ten minutes later.
      renderers.config(configKindOf(profile), { machine, profile, token: token.token, base: url });
      report('install');
      return renderers.ipxe('install', { mac, base: url, machine, profile, token: token.token });
    } catch (err) {
      const message = err instanceof RenderError ? err.message : `render failed: ${(err as Error).message}`;
      events.report({ machine: machine.name, mac, ip: req.ip, kind: 'render', level: 'error', message });
      report('error', 'error', `iPXE script: error (${message})`);
      return renderers.ipxe('error', { mac, base: url, machine, profile, error: message });
    }
  });

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
