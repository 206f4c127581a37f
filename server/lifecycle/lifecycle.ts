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
import { Runners } from './runners.js';
import { decide, IN_FLIGHT, type Input } from './table.js';
import { StateWriter } from './writer.js';

/** Tries of one status change against concurrent writers before the conflict is the caller's. */
const VERSION_ATTEMPTS = 8;
/** The power event that says a power cycle went out; with the install id in its data. */
const POWER_CYCLE_SENT = 'power cycle sent';

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
 * converge) start in the background, run by the instance that wrote the state (its runner, in
 * the status). Protocol events arrive through the event log.
 */
export class Lifecycle {
  private readonly clock: Clock;
  private readonly locks = new KeyedLock();
  private readonly writer: StateWriter;
  private readonly unsubscribe: () => void;
  private readonly background = new Set<Promise<unknown>>();
  private readonly runners: Runners;
  /** machine@version of statuses whose runner is gone with nothing left to resume (a power cycle that went out). */
  private readonly settled = new Set<string>();
  readonly converger: ConvergeRunner;

  constructor(private readonly deps: LifecycleDeps) {
    this.clock = deps.clock ?? systemClock;
    const { store } = deps;
    this.runners = new Runners(deps.config.instance, store.liveInstances && ((names) => store.liveInstances!(names)), this.clock);
    this.writer = new StateWriter(store, deps.events, deps.config, this.clock, this.runners.self);
    this.converger = new ConvergeRunner(this, deps.reads, deps.converge, deps.config, this.clock);
    this.unsubscribe = deps.events.subscribe((e) => {
      if (e.machine && e.kind !== 'state') this.track(this.observe(e.machine, e));
    });
  }

  /**
   * Runs one input for a machine: refusals throw LifecycleError, `moved` says whether the state
   * changed. The only way state changes, apart from registration, removal and host keys below.
   * `cause`, the event of the input (an installer's callback), is written whatever comes of it:
   * with the change, in its transaction (one commit where there were two), or on its own.
   */
  step(name: string, input: Input, cause?: BootEvent): Promise<{ status: MachineStatus; moved: boolean }> {
    return this.serialised(name, async () => {
      const s = await this.current(name);
      const d = decide(s, input);
      if (d.kind !== 'move' && cause) await this.deps.events.append(cause);
      if (d.kind === 'refuse') throw new LifecycleError(d.message, d.code);
      if (d.kind === 'stay') return { status: s, moved: false };
      const { status, token } = await this.writer.apply(s, d.moves, d.effects, cause);
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
  recordHostKeys(name: string, installId: string, keys: string[], event?: BootEvent): Promise<MachineStatus> {
    return this.serialised(name, async () => {
      const s = await this.current(name);
      if (s.installId !== installId || s.netboot !== 'install') throw new LifecycleError(`${name}: the install of this token has ended`, 'gone');
      if (s.hostKeys.length) throw new LifecycleError(`${name}: host keys were already reported for this install`, 'busy');
      return this.writer.note(s, { hostKeys: keys }, event);
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

  /**
   * Fails every machine whose active state outlived its deadline, then resumes the effects whose
   * runner is gone (runners.ts). Called by a timer (at start, then every second) and tests.
   */
  async tick(): Promise<void> {
    const now = this.clock.now();
    const statuses = await this.deps.reads.statuses();
    const late = (s: MachineStatus) => s.deadline !== undefined && s.deadline <= now;
    for (const s of statuses) if (late(s)) await this.step(s.machine, { kind: 'deadline', now: this.clock.now() });

    const key = (s: MachineStatus) => `${s.machine}@${s.version}`;
    const keys = new Set(statuses.map(key));
    for (const k of this.settled) if (!keys.has(k)) this.settled.delete(k);
    const others = statuses.filter((s) => IN_FLIGHT[s.state] && !late(s) && s.runner?.run !== this.runners.self.run && !this.settled.has(key(s)));
    await this.runners.look(others.map((s) => s.runner));
    for (const s of others)
      if (this.runners.gone(s.runner)) await this.resume(s.machine).catch((err) => this.deps.logger.error({ err, machine: s.machine }, 'resuming an effect failed'));
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

  /**
   * Takes the effect under way in a machine's state over from a runner that is gone, and starts
   * it again here: from the start (a converge's steps are idempotent), except a power cycle that
   * already went out for this install, which is left alone (the machine is booting).
   */
  private async resume(name: string): Promise<void> {
    const taken = await this.serialised(name, async () => {
      const s = await this.current(name);
      const effect = IN_FLIGHT[s.state];
      const why = effect && this.runners.gone(s.runner);
      if (!effect || !why) return undefined;
      if (s.state === 'power-cycling' && (await this.powerCycleSent(s))) return void this.settled.add(`${s.machine}@${s.version}`);
      const what = effect === 'converge' ? 'converge' : 'power cycle';
      const by = this.runners.self.instance;
      return this.writer.resume(s, {
        machine: name,
        kind: effect === 'converge' ? 'converge' : 'power',
        level: 'warn',
        message: `${why}: ${what} resumed by ${by}`,
        data: { resumed: effect, from: s.runner?.instance, by },
      });
    });
    switch (taken?.state) {
      case 'reinstall-requested':
        return this.track(this.powerCycle(name, taken.installId!));
      case 'power-cycling':
        return this.track(this.sendPowerCycle(name, taken.installId!));
      case 'installed':
        return this.track(this.converger.afterInstall(name, taken.installId));
      case 'converging':
        return this.track(this.converger.apply(taken, { resumed: true }));
    }
  }

  private async powerCycleSent(s: MachineStatus): Promise<boolean> {
    const recent = await this.deps.reads.eventsTail({ machine: s.machine, since: 0, limit: 100 });
    return recent.some((e) => e.kind === 'power' && e.message === POWER_CYCLE_SENT && e.data?.installId === s.installId);
  }

  private async powerCycle(name: string, installId: string): Promise<void> {
    const { moved } = await this.step(name, { kind: 'power-started', installId });
    if (moved) await this.sendPowerCycle(name, installId);
  }

  /** One-time PXE boot and a power cycle through the machine's BMC; a refusal fails the install. */
  private async sendPowerCycle(name: string, installId: string): Promise<void> {
    const { machine, profile } = await this.recordOf(name);
    const driver = machine.bmc.driver;
    try {
      const power = this.deps.power(machine, profile);
      await power.bootOnceToPxe(profile.firmware);
      await this.deps.events.append({ machine: name, kind: 'power', level: 'info', message: `next boot: PXE once (${profile.firmware})`, data: { driver, installId } });
      await power.cycle();
      await this.deps.events.append({ machine: name, kind: 'power', level: 'info', message: POWER_CYCLE_SENT, data: { driver, installId } });
    } catch (err) {
      await this.step(name, { kind: 'power-failed', installId, reason: `power driver ${driver}: ${(err as Error).message}` });
    }
  }
}
