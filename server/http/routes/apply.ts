import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Rule } from '../../model/discovery.js';
import { Machine } from '../../model/machine.js';
import { Profile } from '../../model/profile.js';
import type { AppDeps } from '../deps.js';

/** `kickstand apply`: the whole desired inventory in, a plan out, applied unless dryRun. */
export const applyRoutes: FastifyPluginAsyncZod<AppDeps> = async (app, { inventory }) => {
  app.post(
    '/apply',
    {
      schema: {
        tags: ['inventory'],
        summary: 'Plan (dryRun) or apply a whole inventory; deletes only with prune',
        body: z.object({
          machines: z.array(Machine).default([]),
          profiles: z.array(Profile).default([]),
          rules: z.array(Rule).default([]),
          prune: z.boolean().default(false),
          dryRun: z.boolean().default(false),
        }),
      },
    },
    async (req) => {
      const { machines, profiles, rules, prune, dryRun } = req.body;
      const desired = { machines, profiles, rules };
      const plan = dryRun ? await inventory.plan(desired, prune) : await inventory.apply(desired, prune);
      return { applied: !dryRun, plan };
    },
  );
};
