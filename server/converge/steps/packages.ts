import type { PackagesStep } from '../../model/converge-steps.js';
import { shellQuote } from '../shell.js';
import { StepFailure, firstLine, type StepKind } from './kind.js';
import type { z } from 'zod';

type Step = z.infer<typeof PackagesStep>;

/** Which of `packages` rpm reports as not installed, from `rpm -q` output. */
export function notInstalled(rpmOutput: string): Set<string> {
  return new Set([...rpmOutput.matchAll(/^package (\S+) is not installed$/gm)].map((m) => m[1]!));
}

export const packages: StepKind<Step> = {
  async check(step, ctx) {
    const r = await ctx.run(`rpm -q ${step.packages.map(shellQuote).join(' ')}`);
    const missing = notInstalled(r.stdout);
    // rpm exits with the number of missing packages; any other failure is not an answer.
    if (r.code !== 0 && missing.size === 0) throw new StepFailure(`rpm -q failed (exit ${r.code}): ${firstLine(r)}`);
    const todo = step.state === 'present' ? step.packages.filter((p) => missing.has(p)) : step.packages.filter((p) => !missing.has(p));
    if (todo.length === 0) return undefined;
    const verb = step.state === 'present' ? 'install' : 'remove';
    return {
      summary: `${verb} ${todo.join(' ')}`,
      apply: async () => {
        await ctx.must(`dnf -y ${verb} ${todo.map(shellQuote).join(' ')}`, `dnf ${verb}`);
      },
    };
  },
};
