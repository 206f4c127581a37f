import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { type Clock, systemClock } from '../model/clock.js';
import { ConflictError, LifecycleError, Misfit, type Problem } from '../model/errors.js';
import type { BootEvent, StoredEvent } from '../model/events.js';
import type { Machine } from '../model/machine.js';
import type { Profile } from '../model/profile.js';
import { type MachineStatus, RESTING } from '../model/status.js';
import type { Reads } from '../reads/reads.js';
import type { Repos, Store } from '../store/store.js';
import { type ConvergeFn, ConvergeRunner } from './converge-runner.js';
import type { EventLog } from './event-log.js';
import { KeyedLock } from './locks.js';
import { decide, type Input } from './table.js';
import { StateWriter } from './writer.js';

/** Tries of one status change against concurrent writers before the conflict is the caller's. */
const VERSION_ATTEMPTS = 8;

/** What the lifecycle needs from a power driver (server/power implements it). */
export interface PowerControl {
  bootOnceToPxe(firmware: Profile['firmware']): Promise<void>;
  cycle(): Promise<void>;
}

export interface LifecycleDeps {
  store: Store;
  reads: Reads;
  events: EventLog;
  config: Config;
  logger: Logger;
  clock?: Clock;
  power: (machine: Machine, profile: Profile) => PowerControl;
  /** Absent: an installed machine is ready at once (no converger wired). */
  converge?: ConvergeFn;
  /** Why the machine's profile does not fit its reported hardware (none: fits, or no report). */
  fit?: (name: string) => Promise<{ profile: string; problems: Problem[] }>;
}

/**
 * Where machine state changes. Every change is an Input run through the table's `decide` under
 * the machine's lock, applied by the writer in one transaction; then its effects (power cycle,
 * converge) start in the background. Protocol events arrive through the event log.
 */
export class Lifecycle {
  private readonly clock: Clock;
  private readonly locks = new KeyedLock();
  private readonly writer: StateWriter;
  private readonly unsubscribe: () => void;
  private readonly background = new Set<Promise<unknown>>();
  readonly converger: ConvergeRunner;

  constructor(private readonly deps: LifecycleDeps) {
    this.clock = deps.clock ?? systemClock;
    this.writer = new StateWriter(deps.store, deps.events, deps.config, this.clock);
    this.converger = new ConvergeRunner(this, deps.reads, deps.converge, deps.config, this.clock);
    this.unsubscribe = deps.events.subscribe((e) => {
      if (e.machine && e.kind !== 'state') this.track(this.observe(e.machine, e));
    });
  }

  /**
   * Runs one input for a machine: refusals throw LifecycleError, `moved` says whether the state
   * changed. The only way state changes, apart from registration, removal and host keys below.
   */
  step(name: string, input: Input): Promise<{ status: MachineStatus; moved: boolean }> {
    return this.serialised(name, async () => {
      const s = await this.current(name);
      const d = decide(s, input);
      if (d.kind === 'refuse') throw new LifecycleError(d.message, d.code);
      if (d.kind === 'stay') return { status: s, moved: false };
      const { status, token } = await this.writer.apply(s, d.moves, d.effects);
      if (d.effects.includes('power-cycle') && token) this.track(this.powerCycle(name, token.installId));
      if (d.effects.includes('converge')) this.track(this.converger.afterInstall(name, status.installId));
      return { status, moved: true };
    });
  }

  /**
   * Starts a reinstall: new install id and token, netboot=install, then the power driver sets a
   * one-time PXE boot and power-cycles in the background. A running install is refused unless
   * forced; a profile that does not fit the machine's reported hardware is refused (Misfit).
   */
  async reinstall(name: string, opts: { force?: boolean } = {}): Promise<MachineStatus> {
    await this.recordOf(name);
    // A profile that does not fit the hardware the machine reported would fail mid-install, or
    // partition the wrong disk: refuse before the power cycle.
    const fit = await this.deps.fit?.(name);
    if (fit?.problems.length) throw new Misfit(fit.profile, fit.problems);
    return (await this.step(name, { kind: 'reinstall', force: opts.force ?? false, now: this.clock.now() })).status;
  }

  async cancel(name: string): Promise<MachineStatus> {
    return (await this.step(name, { kind: 'cancel' })).status;
  }

  /** A machine enters the lifecycle as `registered` (an existing status is kept), with its row. */
  register(name: string, writeMachine: (tx: Repos) => Promise<unknown>): Promise<MachineStatus> {
    return this.locks.run(name, () => this.writer.register(name, writeMachine));
  }

  /** A new box in a machine's cabled slot: its rows and the `replaced` event, host keys cleared, one transaction. */
  replaceBox(name: string, writeBox: (tx: Repos) => Promise<unknown>, event: BootEvent): Promise<MachineStatus | undefined> {
    return this.locks.run(name, () => this.writer.replaceBox(name, writeBox, event));
  }

  /** Deletes a resting machine with its status and tokens; a running install must be cancelled first. */
  remove<T>(name: string, deleteMachine: (tx: Repos) => Promise<T>): Promise<T> {
    return this.locks.run(name, async () => {
      const s = await this.deps.reads.status(name);
      if (s && !RESTING.includes(s.state))
        throw new ConflictError(`${name} is ${s.state}: cancel the reinstall before deleting it`, 'name');
      return this.writer.remove(name, deleteMachine);
    });
  }

  /**
   * Pins the host keys the installer of `installId` reported: once per install, while it runs.
   * A second report could swap the key the converger will trust for an impostor's.
   */
  recordHostKeys(name: string, installId: string, keys: string[]): Promise<MachineStatus> {
    return this.serialised(name, async () => {
      const s = await this.current(name);
      if (s.installId !== installId || s.netboot !== 'install') throw new LifecycleError(`${name}: the install of this token has ended`, 'gone');
      if (s.hostKeys.length) throw new LifecycleError(`${name}: host keys were already reported for this install`, 'busy');
      return this.writer.note(s, { hostKeys: keys });
    });
  }

  /**
   * Ties the install `installId` to the address that first did `what`; returns the address it is
   * tied to (this one, or an earlier one), or undefined when that install is no longer current.
   */
  bindAddress(name: string, installId: string, what: 'bootIp' | 'installerIp', ip: string): Promise<string | undefined> {
    return this.serialised(name, async () => {
      const s = await this.current(name);
      if (s.installId !== installId || s.netboot !== 'install') return undefined;
      if (s[what] === undefined) await this.writer.note(s, { [what]: ip });
      return s[what] ?? ip;
    });
  }

  /**
   * A read-decide-write of one machine's status, under its lock in this process. Another writer
   * of the same store (another kickstand instance on one database) may write the status between
   * the read and the write: the store refuses the stale version, nothing of the attempt is kept,
   * and it runs again from a fresh read, a little later.
   */
  private serialised<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(name, async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn();
        } catch (err) {
          if (!(err instanceof ConflictError && err.field === 'version') || attempt >= VERSION_ATTEMPTS) throw err;
          // Two instances that collided would collide again if both retried at once: a few random milliseconds apart.
          await new Promise((r) => setTimeout(r, Math.random() * 4 * attempt));
        }
      }
    });
  }

  /** Fails every machine whose active state outlived its deadline. Called by a timer and tests. */
  async tick(): Promise<void> {
    const now = this.clock.now();
    for (const s of await this.deps.reads.statuses())
      if (s.deadline !== undefined && s.deadline <= now) await this.step(s.machine, { kind: 'deadline', now: this.clock.now() });
  }

  /** Resolves when background work (power actions, converges, observed events) has settled. */
  async idle(): Promise<void> {
    await this.deps.events.flush();
    while (this.background.size) await Promise.all([...this.background]);
  }

  close(): void {
    this.unsubscribe();
  }

  /** The machine with its profile, or why there is none. */
  async recordOf(name: string): Promise<{ machine: Machine; profile: Profile }> {
    const machine = await this.deps.reads.machine(name);
    if (!machine) throw new LifecycleError(`no machine named ${name}`, 'not-found');
    const record = await this.deps.reads.record(name);
    if (!record) throw new LifecycleError(`machine ${name} uses profile ${machine.profile}, which does not exist`, 'invalid');
    return record;
  }

  async current(name: string): Promise<MachineStatus> {
    const s = await this.deps.reads.status(name);
    if (!s) throw new LifecycleError(`no machine named ${name}`, 'not-found');
    return s;
  }

  /** Background work whose failure is logged, and which idle() waits for. */
  private track(p: Promise<unknown>): void {
    const t = p.catch((err) => this.deps.logger.error({ err }, 'lifecycle background task failed'));
    this.background.add(t);
    void t.finally(() => this.background.delete(t));
  }

  private async observe(name: string, e: StoredEvent): Promise<void> {
    const input: Input = { kind: 'observed', event: e };
    // Most events repeat what the state already says: with nothing queued for this machine,
    // one read decides that without taking the lock.
    if (!this.locks.held(name)) {
      const s = await this.deps.reads.status(name);
      if (!s || decide(s, input).kind === 'stay') return;
    }
    await this.step(name, input);
  }

  private async powerCycle(name: string, installId: string): Promise<void> {
    const { moved } = await this.step(name, { kind: 'power-started', installId });
    if (!moved) return;
    const { machine, profile } = await this.recordOf(name);
    const driver = machine.bmc.driver;
    try {
      const power = this.deps.power(machine, profile);
      await power.bootOnceToPxe(profile.firmware);
      await this.deps.events.append({ machine: name, kind: 'power', level: 'info', message: `next boot: PXE once (${profile.firmware})`, data: { driver } });
      await power.cycle();
      await this.deps.events.append({ machine: name, kind: 'power', level: 'info', message: 'power cycle sent', data: { driver } });
    } catch (err) {
      await this.step(name, { kind: 'power-failed', installId, reason: `power driver ${driver}: ${(err as Error).message}` });
    }
  }
}
