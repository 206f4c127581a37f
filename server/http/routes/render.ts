import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Hostname } from '../../model/primitives.js';
import { notFound } from '../errors.js';
import type { AppDeps } from '../deps.js';
import { baseUrl } from '../../model/boot-urls.js';
import { RenderError } from '../../model/errors.js';
import { configKindOf } from '../../model/renderers.js';

/** Operator preview of what a machine would be served, with a placeholder token. */
export const renderRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, { reads, renderers, config }) => {
  app.get(
    '/machines/:name/render/:kind',
    {
      schema: {
        tags: ['render'],
        summary: 'Preview the iPXE install script, kickstart or Ignition of a machine',
        params: z.object({ name: Hostname, kind: z.enum(['ipxe', 'kickstart', 'ignition']) }),
      },
    },
    async (req, reply) => {
      const { name, kind } = req.params;
      const record = await reads.record(name);
      if (!record) return reply.code(404).send(notFound('machine', name));
      const { machine, profile } = record;
      const wants = configKindOf(profile);
      if (kind !== 'ipxe' && kind !== wants)
        return reply.code(400).send({ error: 'Bad Request', message: `${name} uses ${profile.os}: render ${wants}, not ${kind}`, issues: [{ path: 'kind', message: `use ${wants}` }] });
      const base = baseUrl(config.http.publicUrl, req.headers.host);
      if (!base) return reply.code(400).send({ error: 'Bad Request', message: 'the Host header cannot be part of a URL', issues: [{ path: 'headers.host', message: 'invalid' }] });
      const input = { machine, profile, token: 'PREVIEW-TOKEN', base };
      try {
        const text = kind === 'ipxe' ? (renderers.config(wants, input), renderers.ipxe('install', { ...input, mac: machine.macs[0] })) : renderers.config(kind, input);
        return reply.type(kind === 'ignition' ? 'application/json' : 'text/plain; charset=utf-8').send(text);
      } catch (err) {
        if (err instanceof RenderError) return reply.code(422).send({ error: 'Unprocessable Entity', message: err.message });
        throw err;
      }
    },
  );
};
