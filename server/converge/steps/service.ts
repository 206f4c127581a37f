import type { z } from 'zod';
import type { ServiceStep } from '../../model/converge-steps.js';
import { shellQuote } from '../shell.js';
import { StepFailure, firstLine, type StepKind } from './kind.js';

type Step = z.infer<typeof ServiceStep>;

export const service: StepKind<Step> = {
  async check(step, ctx) {
    const unit = shellQuote(step.service);
    const enabled = await ctx.run(`systemctl is-enabled ${unit}`);
    const active = await ctx.run(`systemctl is-active ${unit}`);
    for (const r of [enabled, active]) if (r.code === 127 || r.code === null) throw new StepFailure(`systemctl did not answer: ${firstLine(r)}`);
    const actions: string[] = [];
    // is-enabled exits 0 for enabled, static, alias…: all mean "starts at boot".
    if (step.enabled && enabled.code !== 0) actions.push('enable');
    if (!step.enabled && enabled.stdout.trim() === 'enabled') actions.push('disable');
    const running = active.code === 0;
    if (step.state === 'started' && !running) actions.push('start');
    if (step.state === 'stopped' && running) actions.push('stop');
    // A service being started now reads its new configuration anyway.
    const triggers = step.state === 'started' && running ? step.restartOn.filter((s) => ctx.changed.has(s)) : [];
    if (triggers.length > 0) actions.push('restart');
    if (actions.length === 0) return undefined;
    const summary = actions.map((a) => (a === 'restart' ? `restart (${triggers.join(', ')} changed)` : a)).join(', ');
    return {
      summary: `${summary} ${step.service}`,
      apply: async () => {
        for (const a of actions) await ctx.must(`systemctl ${a} ${unit}`, `systemctl ${a} ${step.service}`);
      },
    };
  },
};
