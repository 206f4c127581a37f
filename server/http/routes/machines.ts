import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Machine, publicMachine } from '../../model/machine.js';
import { Hostname } from '../../model/primitives.js';
import { InventoryRefused } from '../../model/errors.js';
import { notFound } from '../errors.js';
import type { AppDeps } from '../deps.js';

const NameParams = z.object({ name: Hostname });

/** Operator CRUD for machines. Responses never carry the BMC password. */
export const machineRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, { reads, inventory }) => {
  const withState = async (m: Machine) => ({ ...publicMachine(m), state: (await reads.status(m.name))?.state ?? 'registered' });

  app.get('/machines', { schema: { tags: ['machines'], summary: 'List machines' } }, async () =>
    Promise.all((await reads.machines()).map(withState)),
  );

  app.get('/machines/:name', { schema: { tags: ['machines'], params: NameParams } }, async (req, reply) => {
    const m = await reads.machine(req.params.name);
    return m ? withState(m) : reply.code(404).send(notFound('machine', req.params.name));
  });

  app.post('/machines', { schema: { tags: ['machines'], summary: 'Register a machine', body: Machine } }, async (req, reply) => {
    if (await reads.machine(req.body.name))
      return reply.code(409).send({ error: 'Conflict', message: `machine ${req.body.name} exists (PUT to replace it)`, issues: [{ path: 'name', message: 'exists' }] });
    await inventory.putMachine(req.body);
    return reply.code(201).send(await withState(req.body));
  });

  app.put('/machines/:name', { schema: { tags: ['machines'], summary: 'Create or replace a machine', params: NameParams, body: Machine } }, async (req, reply) => {
    if (req.body.name !== req.params.name) throw new InventoryRefused([{ path: 'name', message: `must match the URL (${req.params.name})` }]);
    const action = await inventory.putMachine(req.body);
    return reply.code(action === 'create' ? 201 : 200).send(await withState(req.body));
  });

  app.delete('/machines/:name', { schema: { tags: ['machines'], params: NameParams } }, async (req, reply) =>
    (await inventory.deleteMachine(req.params.name)) ? reply.code(204).send() : reply.code(404).send(notFound('machine', req.params.name)),
  );
};
