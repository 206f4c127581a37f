import { LifecycleError } from '../model/errors.js';
import type { Progress } from '../model/progress.js';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Machine } from '../model/machine.js';
import type { Profile } from '../model/profile.js';
import type { InstallToken } from '../model/token.js';
import type { Store } from '../store/store.js';
import { type Clock, systemClock } from '../model/clock.js';
import type { EventLog } from './event-log.js';
import { newInstallToken, tokenAllows, type TokenUse } from './tokens.js';
import { canTransition, DEADLINE_HINTS, INSTALL_PATH, RESTING } from './transitions.js';
import type { BootView } from '../model/boot.js';
import type { MachineStatus, State } from '../model/status.js';
import type { StoredEvent } from '../model/events.js';

/** What the lifecycle needs from a power driver (server/power implements it). */
export interface PowerControl {
  bootOnceToPxe(firmware: 'bios' | 'uefi'): Promise<void>;
  cycle(): Promise<void>;
}

export interface ConvergeRequest {
  mode: 'plan' | 'apply' | 'audit';
  machine: Machine;
  profile: Profile;
  hostKeys: string[];
  address: string | undefined;
  deadline: number;
}
/** report: what the converger says step by step (shown by the API and the CLI). */
export type ConvergeResult = ({ ok: true } | { ok: false; reason: string }) & { report?: unknown };

export interface LifecycleDeps {
  store: Store;
  events: EventLog;
  config: Config;
  logger: Logger;
  clock?: Clock;
  power: (machine: Machine, profile: Profile) => PowerControl;
  /** Absent: an installed machine is ready at once (no converger wired). */
  converge?: (req: ConvergeRequest) => Promise<ConvergeResult>;
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/**
 * The one writer of machine state. Everything else reports events (protocol code), asks for
 * actions (API, CLI) or reads status; transitions go through `move`, which checks the table.
 */
export class Lifecycle {
  private readonly clock: Clock;
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly unsubscribe: () => void;
  private readonly background = new Set<Promise<unknown>>();

  constructor(private readonly deps: LifecycleDeps) {
    this.clock = deps.clock ?? systemClock;
    this.unsubscribe = deps.events.subscribe((e) => {
      if (e.machine && e.kind !== 'state') this.track(this.observe(e.machine, e));
    });
  }

  /** Per-machine serialisation: two requests never interleave their read-modify-write. */
  private locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.locks.set(name, settled);
    void settled.then(() => {
      if (this.locks.get(name) === settled) this.locks.delete(name);
    });
    return next;
  }

  private track(p: Promise<unknown>): void {
    const t = p.catch((err) => this.deps.logger.error({ err }, 'lifecycle background task failed'));
    this.background.add(t);
    void t.finally(() => this.background.delete(t));
  }

  /** Resolves when background work (power actions, converges, observed events) has settled. */
  async idle(): Promise<void> {
    await this.deps.events.flush();
    while (this.background.size) await Promise.all([...this.background]);
  }

  close(): void {
    this.unsubscribe();
  }

  private deadlineFor(state: State): number | undefined {
    if (RESTING.includes(state)) return undefined;
    const d = this.deps.config.deadlines;
    const seconds = state === 'reinstall-requested' ? d['power-cycling'] : d[state as keyof typeof d];
    return seconds === undefined ? undefined : this.clock.now() + seconds * 1000;
  }

  /** The only place that writes a state. */
  private async move(s: MachineStatus, to: State, patch: Partial<MachineStatus> = {}, message?: string): Promise<MachineStatus> {
    if (!canTransition(s.state, to)) throw new Error(`bug: transition ${s.state} → ${to} is not in the table (${s.machine})`);
    const now = this.clock.now();
    const next: MachineStatus = { ...s, phase: undefined, reason: undefined, hint: undefined, ...patch, state: to, stateSince: now, deadline: this.deadlineFor(to), version: s.version + 1 };
    await this.deps.store.status.put(next);
    await this.deps.events.append({
      machine: s.machine,
      kind: 'state',
      level: to === 'failed' ? 'error' : 'info',
      message: message ?? (to === 'failed' ? `failed in ${next.phase}: ${next.reason}` : `${s.state} → ${to}`),
      data: { from: s.state, to, ...(next.phase ? { phase: next.phase, reason: next.reason, hint: next.hint } : {}) },
    });
    return next;
  }

  private fail(s: MachineStatus, reason: string, hint?: string): Promise<MachineStatus> {
    return this.move(s, 'failed', { phase: s.state, reason, hint: hint ?? DEADLINE_HINTS[s.state], netboot: 'local' });
  }

  private async current(name: string): Promise<MachineStatus> {
    const s = await this.deps.store.status.get(name);
    if (!s) throw new LifecycleError(`no machine named ${name}`, 'not-found');
    return s;
  }

  /** A machine enters the lifecycle as `registered`; an existing status is kept. */
  register(name: string): Promise<MachineStatus> {
    return this.locked(name, async () => {
      const existing = await this.deps.store.status.get(name);
      if (existing) return existing;
      const s: MachineStatus = { machine: name, state: 'registered', netboot: 'local', stateSince: this.clock.now(), hostKeys: [], version: 1 };
      await this.deps.store.status.put(s);
      return s;
    });
  }

  status(name: string): Promise<MachineStatus | undefined> {
    return this.deps.store.status.get(name);
  }

  private async machineAndProfile(name: string): Promise<{ machine: Machine; profile: Profile }> {
    const machine = await this.deps.store.machines.get(name);
    if (!machine) throw new LifecycleError(`no machine named ${name}`, 'not-found');
    const profile = await this.deps.store.profiles.get(machine.profile);
    if (!profile) throw new LifecycleError(`machine ${name} uses profile ${machine.profile}, which does not exist`, 'invalid');
    return { machine, profile };
  }

  /**
   * Starts a reinstall: new install id and token, netboot=install, then the power driver sets a
   * one-time PXE boot and power-cycles in the background. A running install is refused unless forced.
   */
  reinstall(name: string, opts: { force?: boolean } = {}): Promise<MachineStatus> {
    return this.locked(name, async () => {
      const { machine, profile } = await this.machineAndProfile(name);
      let s = await this.current(name);
      if (!RESTING.includes(s.state)) {
        if (!opts.force) throw new LifecycleError(`${name} is ${s.state}: a reinstall is already running (force it, or cancel first)`, 'busy');
        s = await this.fail(s, 'superseded by a forced reinstall');
      }
      const now = this.clock.now();
      const token = newInstallToken(name, this.deps.config.tokens.ttlSeconds, now);
      await this.deps.store.tokens.deleteForMachine(name);
      await this.deps.store.tokens.put(token);
      s = await this.move(s, 'reinstall-requested', { installId: token.installId, netboot: 'install', startedAt: now, hostKeys: [] }, 'reinstall requested');
      this.track(this.powerCycle(machine, profile, token.installId));
      return s;
    });
  }

  private powerCycle(machine: Machine, profile: Profile, installId: string): Promise<void> {
    return this.locked(machine.name, async () => {
      let s = await this.current(machine.name);
      if (s.installId !== installId || s.state !== 'reinstall-requested') return;
      s = await this.move(s, 'power-cycling');
      const driver = this.deps.power(machine, profile);
      try {
        await driver.bootOnceToPxe(profile.firmware);
        await this.deps.events.append({ machine: machine.name, kind: 'power', level: 'info', message: `next boot: PXE once (${profile.firmware})`, data: { driver: machine.bmc.driver } });
        await driver.cycle();
        await this.deps.events.append({ machine: machine.name, kind: 'power', level: 'info', message: 'power cycle sent', data: { driver: machine.bmc.driver } });
      } catch (err) {
        const latest = await this.current(machine.name);
        if (latest.installId === installId && latest.state === 'power-cycling')
          await this.fail(latest, `power driver ${machine.bmc.driver}: ${(err as Error).message}`, 'check the BMC address, credentials and TLS settings');
      }
    });
  }

  cancel(name: string): Promise<MachineStatus> {
    return this.locked(name, async () => {
      const s = await this.current(name);
      if (RESTING.includes(s.state)) throw new LifecycleError(`${name} is ${s.state}: nothing to cancel`, 'invalid');
      await this.deps.store.tokens.deleteForMachine(name);
      return this.fail(s, 'cancelled by the operator', 'reinstall again when ready');
    });
  }

  /** Protocol events move an install forward; events for other states are just recorded. */
  private async observe(name: string, e: StoredEvent): Promise<void> {
    // Most events repeat what the state already says (every kickstart re-fetch, every asset):
    // with nothing queued for this machine, one read decides that without taking the lock.
    if (!this.locks.has(name) && !this.effectOf(await this.deps.store.status.get(name), e)) return;
    return this.locked(name, async () => {
      const s = await this.deps.store.status.get(name);
      const effect = this.effectOf(s, e);
      if (effect === 'fail') await this.fail(s!, e.message, 'fix the profile or machine (see GET /api/v1/machines/{name}/render/…) and reinstall');
      else if (effect) await this.move(s!, effect);
    });
  }

  /** What an event does to an install: fail it (a render error), move it forward, or nothing. */
  private effectOf(s: MachineStatus | undefined, e: StoredEvent): State | 'fail' | undefined {
    if (!s || s.netboot !== 'install') return undefined;
    if (e.kind === 'render' && e.level === 'error' && !RESTING.includes(s.state)) return 'fail';
    const target = this.targetFor(e);
    if (!target) return undefined;
    const order = INSTALL_PATH.indexOf.bind(INSTALL_PATH);
    return order(target) > order(s.state) && canTransition(s.state, target) ? target : undefined;
  }

  private targetFor(e: StoredEvent): State | undefined {
    switch (e.kind) {
      case 'dhcp':
      case 'tftp':
      case 'ipxe-script':
        return 'pxe-booting';
      case 'asset':
        return 'installer-booting';
      case 'kickstart':
      case 'ignition':
        return e.level === 'error' ? undefined : 'installing';
      default:
        return undefined;
    }
  }

  /** Checks a token for a config fetch or a callback; returns the machine or why not. */
  async checkToken(token: string, use: TokenUse): Promise<{ ok: true; token: InstallToken } | { ok: false; reason: string }> {
    const t = await this.deps.store.tokens.get(token);
    const s = t && (await this.deps.store.status.get(t.machine));
    const why = tokenAllows(t, s?.installId, use, this.clock.now()) ?? (use === 'fetch' && s?.netboot !== 'install' ? 'the install of this token has ended' : undefined);
    return why ? { ok: false, reason: why } : { ok: true, token: t! };
  }

  /** The token an install script embeds, while the machine is to be installed. */
  async installToken(name: string): Promise<InstallToken | undefined> {
    const s = await this.deps.store.status.get(name);
    if (!s || s.netboot !== 'install') return undefined;
    const t = await this.deps.store.tokens.current(name);
    return t && t.installId === s.installId ? t : undefined;
  }

  /** Installer callbacks: start, progress, hostkeys, built, failed. */
  callback(token: InstallToken, event: string, body: string, query: Record<string, string | undefined>): Promise<MachineStatus> {
    const name = token.machine;
    return this.locked(name, async () => {
      let s = await this.current(name);
      const report = (message: string, level: 'info' | 'warn' | 'error' = 'info', data?: Record<string, unknown>) =>
        this.deps.events.append({ machine: name, kind: 'callback', level, message, data: { event, ...data } });
      switch (event) {
        case 'start':
          await report('installer started');
          if (s.state !== 'installing' && canTransition(s.state, 'installing')) s = await this.move(s, 'installing');
          return s;
        case 'progress':
          await report(`progress: ${query.step ?? 'step'}${body ? ` — ${body.slice(0, 500)}` : ''}`, 'info', { step: query.step });
          return s;
        case 'hostkeys': {
          const keys = body
            .split('\n')
            .map((l) => l.trim().split(/\s+/).slice(0, 2).join(' '))
            .filter((l) => /^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+$/.test(l));
          if (!keys.length) throw new LifecycleError('hostkeys: no OpenSSH public key lines in the body', 'invalid');
          s = { ...s, hostKeys: keys, version: s.version + 1 };
          await this.deps.store.status.put(s);
          await report(`host keys reported: ${keys.map((k) => k.split(' ')[0]).join(', ')}`, 'info', { keys });
          return s;
        }
        case 'built': {
          await report('installer reported built');
          if (s.state === 'installed' || !canTransition(s.state, 'installed')) return s;
          s = await this.move(s, 'installed', { netboot: 'local' }, 'install finished: netboot is now local');
          this.track(this.startConverge(name, s.installId));
          return s;
        }
        case 'failed': {
          await report('installer reported failed', 'error', { log: body.slice(-8192) });
          if (RESTING.includes(s.state)) return s;
          return this.fail(s, 'the installer reported failure', 'see the log tail in the callback event');
        }
        default:
          throw new LifecycleError(`unknown callback "${event}": start, progress, hostkeys, built or failed`, 'invalid');
      }
    });
  }

  /** Where the installed host answers: its static address, else its bound DHCP lease. */
  async address(machine: Machine): Promise<string | undefined> {
    if (machine.ipv4) return machine.ipv4.address.split('/')[0];
    for (const mac of machine.macs) {
      const lease = await this.deps.store.leases.byMac(mac);
      if (lease && lease.state === 'bound') return lease.ip;
    }
    return undefined;
  }

  private startConverge(name: string, installId: string | undefined): Promise<void> {
    return this.locked(name, async () => {
      let s = await this.current(name);
      if (s.state !== 'installed' || s.installId !== installId) return undefined;
      if (!this.deps.converge) {
        await this.move(s, 'ready', {}, 'installed; no converger configured');
        return undefined;
      }
      s = await this.move(s, 'converging');
      return s;
    }).then(async (s) => {
      if (!s) return;
      // Converging runs outside the lock: it takes minutes and progress events must flow meanwhile.
      const { machine, profile } = await this.machineAndProfile(name);
      const result = await this.runConverge('apply', machine, profile, s.hostKeys, s.deadline!);
      await this.locked(name, async () => {
        const latest = await this.current(name);
        if (latest.state !== 'converging' || latest.installId !== installId) return;
        if (result.ok) await this.move(latest, 'ready', {}, 'converged: ready');
        else await this.fail(latest, result.reason);
      });
    });
  }

  private runConverge(mode: ConvergeRequest['mode'], machine: Machine, profile: Profile, hostKeys: string[], deadline: number): Promise<ConvergeResult> {
    return this.address(machine)
      .then((address) => this.deps.converge!({ mode, machine, profile, hostKeys, address, deadline }))
      .catch((err: Error): ConvergeResult => ({ ok: false, reason: err.message }));
  }

  /**
   * Operator-run converge of an installed machine. plan and audit change nothing, not even the
   * state; apply moves a resting machine through converging to ready or failed.
   */
  async convergeNow(name: string, mode: ConvergeRequest['mode']): Promise<ConvergeResult> {
    if (!this.deps.converge) throw new LifecycleError('no converger is configured', 'invalid');
    const { machine, profile } = await this.machineAndProfile(name);
    const s = await this.current(name);
    if (!s.hostKeys.length) throw new LifecycleError(`${name} has no host key reported by an install: reinstall it first`, 'invalid');
    const deadline = this.clock.now() + this.deps.config.deadlines.converging * 1000;
    if (mode !== 'apply') return this.runConverge(mode, machine, profile, s.hostKeys, deadline);
    const started = await this.locked(name, async () => {
      const latest = await this.current(name);
      if (latest.state !== 'ready' && latest.state !== 'failed') throw new LifecycleError(`${name} is ${latest.state}: converge apply needs ready or failed`, 'busy');
      return this.move(latest, 'converging', {}, 'converge apply requested');
    });
    const result = await this.runConverge('apply', machine, profile, started.hostKeys, started.deadline!);
    await this.locked(name, async () => {
      const latest = await this.current(name);
      if (latest.state !== 'converging' || latest.version !== started.version) return;
      if (result.ok) await this.move(latest, 'ready', {}, 'converged: ready');
      else await this.fail(latest, result.reason);
    });
    return result;
  }

  /** Fails every machine whose active state outlived its deadline. Called by a timer and tests. */
  async tick(): Promise<void> {
    const now = this.clock.now();
    for (const s of await this.deps.store.status.list()) {
      if (s.deadline === undefined || s.deadline > now) continue;
      await this.locked(s.machine, async () => {
        const latest = await this.current(s.machine);
        if (latest.deadline === undefined || latest.deadline > this.clock.now()) return;
        const limit = Math.round((latest.deadline - latest.stateSince) / 1000);
        await this.fail(latest, `deadline of ${limit} s for ${latest.state} passed`);
      });
    }
  }

  async progress(name: string, eventLimit = 200): Promise<Progress> {
    const s = await this.current(name);
    await this.deps.events.flush();
    const events = await this.deps.store.events.list({ machine: name, limit: 100000 });
    const since = s.startedAt ?? 0;
    const recent = events.filter((e) => e.at >= since).slice(-eventLimit);
    const idx = INSTALL_PATH.indexOf(s.phase ?? s.state);
    const step = s.state === 'registered' ? 0 : idx + 1;
    const of = INSTALL_PATH.length;
    return {
      machine: name,
      state: s.state,
      phase: s.phase,
      reason: s.reason,
      hint: s.hint,
      step,
      of,
      percent: s.state === 'ready' ? 100 : Math.round(((step > 0 ? step - 1 : 0) / (of - 1)) * 100),
      startedAt: iso(s.startedAt),
      stateSince: iso(s.stateSince)!,
      deadline: iso(s.deadline),
      lastEvent: recent[recent.length - 1],
      events: recent,
    };
  }

  /** The boot path's view of a machine (by MAC), for DHCP, TFTP and the iPXE script route. */
  async bootView(mac: string): Promise<BootView | undefined> {
    const machine = await this.deps.store.machines.byMac(mac);
    if (!machine) return undefined;
    const [profile, s] = await Promise.all([this.deps.store.profiles.get(machine.profile), this.deps.store.status.get(machine.name)]);
    if (!profile) return undefined;
    return {
      name: machine.name,
      macs: machine.macs,
      netboot: s?.netboot ?? 'local',
      state: s?.state ?? 'registered',
      firmware: profile.firmware,
      arch: profile.arch,
      os: profile.os,
      ipv4: machine.ipv4,
    };
  }
}
