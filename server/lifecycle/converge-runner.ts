import type { Config } from '../config/schema.js';
import { changedByInterruptedRuns } from '../model/converge-progress.js';
import type { Clock } from '../model/clock.js';
import type { ConvergeMode } from '../model/converge-steps.js';
import { LifecycleError } from '../model/errors.js';
import type { Machine } from '../model/machine.js';
import type { Profile } from '../model/profile.js';
import type { MachineStatus } from '../model/status.js';
import type { Reads } from '../reads/reads.js';
import type { Lifecycle } from './lifecycle.js';

export interface ConvergeRequest {
  mode: ConvergeMode;
  machine: Machine;
  profile: Profile;
  hostKeys: string[];
  address: string | undefined;
  deadline: number;
  /** Steps a run of this converge that was cut short may have changed (ConvergeOptions.changedBefore). */
  changedBefore?: string[];
}
/** report: what the converger says step by step (shown by the API and the CLI). */
export type ConvergeResult = ({ ok: true } | { ok: false; reason: string }) & { report?: unknown };
export type ConvergeFn = (req: ConvergeRequest) => Promise<ConvergeResult>;

/**
 * Runs the converger against installed machines: after an install, and when an operator asks.
 * A converge takes minutes and progress events must flow meanwhile, so it runs outside the
 * machine's lock, between two lifecycle steps (start, then done with the version it started from).
 */
export class ConvergeRunner {
  constructor(
    private readonly lifecycle: Lifecycle,
    private readonly reads: Reads,
    private readonly converge: ConvergeFn | undefined,
    private readonly config: Config,
    private readonly clock: Clock,
  ) {}

  async afterInstall(name: string, installId: string | undefined): Promise<void> {
    const { status, moved } = await this.lifecycle.step(name, { kind: 'install-converge', installId, converger: this.converge !== undefined });
    if (moved && status.state === 'converging') await this.apply(status);
  }

  /**
   * Operator-run converge of an installed machine. plan and audit change nothing, not even the
   * state; apply moves a resting machine through converging to ready or failed.
   */
  async now(name: string, mode: ConvergeMode): Promise<ConvergeResult> {
    if (!this.converge) throw new LifecycleError('no converger is configured', 'invalid');
    const { machine, profile } = await this.lifecycle.recordOf(name);
    const s = await this.lifecycle.current(name);
    if (!s.hostKeys.length) throw new LifecycleError(`${name} has no host key reported by an install: reinstall it first`, 'invalid');
    if (mode !== 'apply') return this.run(mode, machine, profile, s.hostKeys, this.clock.now() + this.config.deadlines.converging * 1000);
    const { status } = await this.lifecycle.step(name, { kind: 'operator-converge' });
    return this.apply(status);
  }

  /**
   * Applies the profile to a machine this instance put in `converging` (status), from its first
   * step, and moves it on from that status' version. Also how a converge whose runner is gone is
   * resumed (`resumed`): steps check before they apply, so a second run changes only what the
   * first did not, and what the first changed still fires its triggers.
   */
  async apply(status: MachineStatus, { resumed = false } = {}): Promise<ConvergeResult> {
    const { machine, profile } = await this.lifecycle.recordOf(status.machine);
    // Everything since the machine entered `converging` (a resumed status keeps that time): the
    // runs cut short, however many.
    const changedBefore = resumed ? changedByInterruptedRuns(await this.reads.eventsTail({ machine: status.machine, since: status.stateSince, limit: 10_000 })) : undefined;
    const result = await this.run('apply', machine, profile, status.hostKeys, status.deadline!, changedBefore);
    await this.lifecycle.step(status.machine, { kind: 'converge-done', version: status.version, ok: result.ok, reason: result.ok ? undefined : result.reason });
    return result;
  }

  private async run(mode: ConvergeMode, machine: Machine, profile: Profile, hostKeys: string[], deadline: number, changedBefore?: string[]): Promise<ConvergeResult> {
    try {
      return await this.converge!({ mode, machine, profile, hostKeys, address: await this.reads.address(machine), deadline, changedBefore });
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
  }
}
