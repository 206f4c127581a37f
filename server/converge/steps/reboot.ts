import type { z } from 'zod';
import type { RebootStep } from '../../model/converge-steps.js';
import { StepFailure, firstLine, type StepKind } from './kind.js';

type Step = z.infer<typeof RebootStep>;

export const reboot: StepKind<Step> = {
  async check(step, ctx) {
    // A reboot is an action, not a state: there is nothing on the host to audit.
    if (ctx.mode === 'audit') return undefined;
    if (step.when === 'changed' && ctx.changed.size === 0) return undefined;
    const why = step.when === 'always' ? 'always' : `after ${[...ctx.changed].join(', ')}`;
    return { summary: `reboot (${why})`, apply: () => ctx.reboot() };
  },
  async verify(_step, ctx) {
    const r = await ctx.run('true');
    if (r.code !== 0) throw new StepFailure(`the host came back but does not run commands: ${firstLine(r)}`);
    return undefined;
  },
};
