import type { z } from 'zod';
import type { CommandStep } from '../../model/converge-steps.js';
import { shellQuote } from '../shell.js';
import type { StepKind } from './kind.js';

type Step = z.infer<typeof CommandStep>;

export const command: StepKind<Step> = {
  async check(step, ctx) {
    if (step.creates !== undefined && (await ctx.run(`test -e ${shellQuote(step.creates)}`)).code === 0) return undefined;
    if (step.unless !== undefined && (await ctx.run(step.unless)).code === 0) return undefined;
    const guard = step.creates !== undefined ? `${step.creates} is missing` : `\`${step.unless}\` fails`;
    return {
      summary: `run \`${step.run}\` (${guard})`,
      apply: async () => {
        await ctx.must(step.run, 'the command');
      },
    };
  },
};
