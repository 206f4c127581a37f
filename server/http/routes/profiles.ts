import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Ident } from '../../model/primitives.js';
import { Profile } from '../../model/profile.js';
import { InventoryRefused } from '../../model/errors.js';
import { notFound } from '../errors.js';
import type { AppDeps } from '../deps.js';

const NameParams = z.object({ name: Ident });

/** Operator CRUD for hardware profiles; a profile that fails lint is refused with the field. */
export const profileRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, { reads, inventory }) => {
  app.get('/profiles', { schema: { tags: ['profiles'], summary: 'List hardware profiles' } }, async () => reads.profiles());

  app.get('/profiles/:name', { schema: { tags: ['profiles'], params: NameParams } }, async (req, reply) =>
    (await reads.profile(req.params.name)) ?? reply.code(404).send(notFound('profile', req.params.name)),
  );

  app.post('/profiles', { schema: { tags: ['profiles'], summary: 'Create a hardware profile', body: Profile } }, async (req, reply) => {
    if (await reads.profile(req.body.name))
      return reply.code(409).send({ error: 'Conflict', message: `profile ${req.body.name} exists (PUT to replace it)`, issues: [{ path: 'name', message: 'exists' }] });
    await inventory.putProfile(req.body);
    return reply.code(201).send(req.body);
  });

  app.put('/profiles/:name', { schema: { tags: ['profiles'], summary: 'Create or replace a profile', params: NameParams, body: Profile } }, async (req, reply) => {
    if (req.body.name !== req.params.name) throw new InventoryRefused([{ path: 'name', message: `must match the URL (${req.params.name})` }]);
    const action = await inventory.putProfile(req.body);
    return reply.code(action === 'create' ? 201 : 200).send(req.body);
  });

  app.delete('/profiles/:name', { schema: { tags: ['profiles'], params: NameParams } }, async (req, reply) =>
    (await inventory.deleteProfile(req.params.name)) ? reply.code(204).send() : reply.code(404).send(notFound('profile', req.params.name)),
  );
};
