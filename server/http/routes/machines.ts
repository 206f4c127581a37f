import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Machine, publicMachine } from '../../model/machine.js';
import { Hostname } from '../../model/primitives.js';
import { InventoryRefused } from '../../model/errors.js';
import { notFound } from '../errors.js';
import type { AppDeps } from '../deps.js';

const NameParams = z.object({ name: Hostname });

/** Operator CRUD for machines. Responses never carry the BMC password. */
export const machineRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, { reads, inventory, discovery }) => {
  /** With its state, and where it answers (its static address, else its bound DHCP lease). */
  const withState = async (m: Machine) => {
    const [status, address] = await Promise.all([reads.status(m.name), reads.address(m)]);
    return { ...publicMachine(m), state: status?.state ?? 'registered', ...(address ? { address } : {}) };
  };
  /** The box in the machine's slot now: its serial (from its newest hardware report) and MACs. */
  const box = async (m: Machine) => {
    const serial = (await discovery.hardware(m.name))?.inventory.system?.serial;
    return { macs: m.macs, ...(serial ? { serial } : {}) };
  };

  app.get(
    '/machines',
    {
      schema: {
        tags: ['machines'],
        summary: "List machines; ?cabling=SWITCH lists that switch's slots (machines cabled to it) with the box in each",
        querystring: z.object({ cabling: z.string().min(1).max(256).optional() }),
      },
    },
    async (req) => {
      const sw = req.query.cabling;
      if (!sw) return Promise.all((await reads.machines()).map(withState));
      const cabled = (await reads.machines()).filter((m) => Object.values(m.cabling).some((p) => p.switch === sw));
      return Promise.all(
        cabled.map(async (m) => ({
          ...(await withState(m)),
          ports: Object.entries(m.cabling)
            .filter(([, p]) => p.switch === sw)
            .map(([role, p]) => ({ role, port: p.port, ...(m.nics[role] ? { mac: m.nics[role] } : {}) })),
          box: await box(m),
        })),
      );
    },
  );

  app.get('/machines/:name', { schema: { tags: ['machines'], summary: 'A machine, with the box in its slot and its replacement history', params: NameParams } }, async (req, reply) => {
    const m = await reads.machine(req.params.name);
    if (!m) return reply.code(404).send(notFound('machine', req.params.name));
    return { ...(await withState(m)), box: await box(m), replacements: await discovery.replacements(m.name) };
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
