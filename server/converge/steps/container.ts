import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { ContainerStep } from '../../model/converge-steps.js';
import { shellQuote } from '../shell.js';
import { StepFailure, type StepKind } from './kind.js';

type Step = z.infer<typeof ContainerStep>;

/** Label carrying a hash of image, args and command: a changed argument must recreate the container. */
export const SPEC_LABEL = 'io.kickstand.spec';

export function specHash(step: Step): string {
  return createHash('sha256').update(JSON.stringify([step.image, step.args, step.command])).digest('hex').slice(0, 16);
}

export interface RunningContainer {
  image: string;
  running: boolean;
  spec: string;
}

/** Parses `podman container inspect --format '{{.ImageName}}|{{.State.Running}}|<label>'`. */
export function parseInspect(out: string): RunningContainer {
  const [image = '', running = '', spec = ''] = out.trim().split('|');
  return { image, running: running === 'true', spec: spec === '<no value>' ? '' : spec };
}

/** Podman may report a short name in full (docker.io/library/…): same image. */
function sameImage(reported: string, wanted: string): boolean {
  return reported === wanted || reported.endsWith(`/${wanted}`);
}

export const container: StepKind<Step> = {
  async check(step, ctx) {
    const name = shellQuote(step.container);
    const format = shellQuote(`{{.ImageName}}|{{.State.Running}}|{{index .Config.Labels "${SPEC_LABEL}"}}`);
    const r = await ctx.run(`podman container inspect --format ${format} ${name}`);
    if (r.code === 127 || r.code === null) throw new StepFailure(`podman did not answer: ${r.stderr.trim()}`);
    const spec = specHash(step);
    const current = r.code === 0 ? parseInspect(r.stdout) : undefined;
    const run = async () => {
      const argv = ['podman', 'run', '-d', '--replace', '--name', step.container, '--label', `${SPEC_LABEL}=${spec}`, ...step.args, step.image, ...step.command];
      await ctx.must(argv.map(shellQuote).join(' '), `podman run ${step.container}`);
    };
    if (!current) return { summary: `create container ${step.container} from ${step.image}`, apply: run };
    if (!sameImage(current.image, step.image)) return { summary: `image ${current.image} → ${step.image}`, apply: run };
    if (current.spec !== spec) return { summary: `arguments of ${step.container} changed: recreate`, apply: run };
    if (!current.running)
      return {
        summary: `start stopped container ${step.container}`,
        apply: async () => {
          await ctx.must(`podman start ${name}`, `podman start ${step.container}`);
        },
      };
    return undefined;
  },
};
