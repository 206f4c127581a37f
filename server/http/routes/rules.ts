import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Rule } from '../../model/discovery.js';
import { InventoryRefused } from '../../model/errors.js';
import { Ident } from '../../model/primitives.js';
import { notFound } from '../errors.js';
import type { AppDeps } from '../deps.js';

const NameParams = z.object({ name: Ident });

/**
 * Operator CRUD for discovery rules. A rule naming a missing profile is refused with `profile`;
 * one on another rule's priority is a 409 naming that rule.
 */
export const ruleRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, { inventory }) => {
  app.get('/rules', { schema: { tags: ['discovery'], summary: 'List discovery rules, highest priority first' } }, async () => inventory.rules());

  app.get('/rules/:name', { schema: { tags: ['discovery'], params: NameParams } }, async (req, reply) =>
    (await inventory.rule(req.params.name)) ?? reply.code(404).send(notFound('rule', req.params.name)),
  );

  app.post('/rules', { schema: { tags: ['discovery'], summary: 'Create a discovery rule', body: Rule } }, async (req, reply) => {
    if (await inventory.rule(req.body.name))
      return reply.code(409).send({ error: 'Conflict', message: `rule ${req.body.name} exists (PUT to replace it)`, issues: [{ path: 'name', message: 'exists' }] });
    await inventory.putRule(req.body);
    return reply.code(201).send(req.body);
  });

  app.put('/rules/:name', { schema: { tags: ['discovery'], summary: 'Create or replace a discovery rule', params: NameParams, body: Rule } }, async (req, reply) => {
    if (req.body.name !== req.params.name) throw new InventoryRefused([{ path: 'name', message: `must match the URL (${req.params.name})` }]);
    const action = await inventory.putRule(req.body);
    return reply.code(action === 'create' ? 201 : 200).send(req.body);
  });

  app.delete('/rules/:name', { schema: { tags: ['discovery'], params: NameParams } }, async (req, reply) =>
    (await inventory.deleteRule(req.params.name)) ? reply.code(204).send() : reply.code(404).send(notFound('rule', req.params.name)),
  );
};
