import { createHash } from 'node:crypto';
import Handlebars from 'handlebars';
import type { z } from 'zod';
import type { FileStep } from '../../model/converge-steps.js';
import { shellQuote } from '../shell.js';
import type { TemplateContext } from '../types.js';
import { StepFailure, firstLine, type StepContext, type StepKind } from './kind.js';

type Step = z.infer<typeof FileStep>;

// Config files are not HTML (noEscape); a misspelt variable must fail, not render empty (strict).
const handlebars = Handlebars.create();

export function fileContent(step: Step, context: TemplateContext): string {
  if (step.content !== undefined) return step.content;
  try {
    return handlebars.compile(step.template ?? '', { noEscape: true, strict: true })(context);
  } catch (err) {
    throw new StepFailure(`template of ${step.path} does not render: ${(err as Error).message}`);
  }
}

export interface RemoteFile {
  sha256: string;
  mode: number;
  owner: string;
  group: string;
}

/** Parses the output of statScript: "absent", or the sha256 line then "mode owner group". */
export function parseRemoteFile(out: string): RemoteFile | undefined {
  const lines = out.trim().split('\n');
  if (lines[0] === 'absent') return undefined;
  const sha256 = /^([0-9a-f]{64})\b/.exec(lines[0] ?? '')?.[1];
  const meta = /^([0-7]+) (\S+) (\S+)$/.exec(lines[1] ?? '');
  if (!sha256 || !meta) throw new StepFailure(`cannot read the state of the file: ${out.slice(0, 200)}`);
  return { sha256, mode: parseInt(meta[1]!, 8), owner: meta[2]!, group: meta[3]! };
}

/** What differs between the remote file and the step, in words; empty when it matches. */
export function fileDifferences(step: Step, want: string, remote: RemoteFile | undefined): string[] {
  if (!remote) return [`create ${step.path}`];
  const out: string[] = [];
  if (remote.sha256 !== want) out.push(`content of ${step.path} differs (sha256 ${remote.sha256.slice(0, 12)}…, want ${want.slice(0, 12)}…)`);
  const mode = parseInt(step.mode, 8);
  if (remote.mode !== mode) out.push(`mode ${remote.mode.toString(8).padStart(4, '0')} → ${mode.toString(8).padStart(4, '0')}`);
  if (remote.owner !== step.owner || remote.group !== step.group) out.push(`owner ${remote.owner}:${remote.group} → ${step.owner}:${step.group}`);
  return out;
}

function statScript(path: string): string {
  const p = shellQuote(path);
  // sha256sum reads stdin so that odd file names cannot change its output format.
  return `if [ -e ${p} ]; then sha256sum < ${p} && stat -L -c '%a %U %G' ${p}; else echo absent; fi`;
}

/**
 * Uploaded to a private temp file, then copied next to the target and renamed over it, so a reader
 * never sees a half-written file and the file gets the directory's default security context.
 */
async function write(step: Step, content: string, ctx: StepContext): Promise<void> {
  const src = shellQuote(await ctx.upload(Buffer.from(content, 'utf8')));
  const p = shellQuote(step.path);
  const dir = shellQuote(step.path.replace(/\/[^/]*$/, '') || '/');
  const base = shellQuote(`.${step.path.replace(/^.*\//, '')}.kickstand.XXXXXX`);
  await ctx.must(
    [
      't=""',
      `trap 'rm -f -- "$t" ${src}' EXIT`,
      'set -e',
      `mkdir -p ${dir}`,
      `t=$(mktemp ${dir}/${base})`,
      `cat ${src} > "$t"`,
      `chown ${shellQuote(`${step.owner}:${step.group}`)} "$t"`,
      `chmod ${step.mode} "$t"`,
      `mv -f "$t" ${p}`,
    ].join('\n'),
    `write ${step.path}`,
  );
}

export const file: StepKind<Step> = {
  async check(step, ctx) {
    const content = fileContent(step, ctx.template);
    const want = createHash('sha256').update(content, 'utf8').digest('hex');
    const r = await ctx.run(statScript(step.path));
    if (r.code !== 0) throw new StepFailure(`cannot inspect ${step.path}: ${firstLine(r)}`);
    const remote = parseRemoteFile(r.stdout);
    const diffs = fileDifferences(step, want, remote);
    if (diffs.length === 0) return undefined;
    return {
      summary: diffs.join('; '),
      apply: async () => {
        if (!remote || remote.sha256 !== want) return write(step, content, ctx);
        const p = shellQuote(step.path);
        await ctx.must(`chown ${shellQuote(`${step.owner}:${step.group}`)} ${p} && chmod ${step.mode} ${p}`, `set owner and mode of ${step.path}`);
      },
    };
  },
};
