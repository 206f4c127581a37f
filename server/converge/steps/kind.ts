import type { ConvergeMode } from '../../model/converge-steps.js';
import type { ExecResult, TemplateContext } from '../types.js';

/** What one step sees of the converge it runs in. */
export interface StepContext {
  mode: ConvergeMode;
  /** Earlier steps of this run that changed something (apply) or would (plan). */
  changed: ReadonlySet<string>;
  template: TemplateContext;
  /** Runs a shell script as root (through `sudo -n` for another user); logged into the step output. */
  run(script: string): Promise<ExecResult>;
  /** Like run, but a non-zero exit fails the step, naming `what` was attempted. */
  must(script: string, what: string): Promise<ExecResult>;
  /** Uploads content to a private temporary file and returns its remote path. */
  upload(content: Buffer): Promise<string>;
  reboot(): Promise<void>;
}

/** How a step differs from its declared state, and how to fix that. */
export interface Difference {
  summary: string;
  apply(): Promise<void>;
}

export interface StepKind<S> {
  /** undefined when the host already is as the step declares. Must change nothing. */
  check(step: S, ctx: StepContext): Promise<Difference | undefined>;
  /**
   * After apply: what still differs, undefined when converged. Default: check again with no
   * earlier changes, so triggers (restartOn, reboot when changed) do not fire a second time.
   */
  verify?(step: S, ctx: StepContext): Promise<string | undefined>;
}

/** A step failed in a way its output explains. */
export class StepFailure extends Error {
  override name = 'StepFailure';
}

/** The first line of stderr (or stdout) worth quoting in a failure message. */
export function firstLine(r: ExecResult): string {
  return (r.stderr.trim() || r.stdout.trim()).split('\n')[0]?.slice(0, 200) ?? '';
}
