import type { Config } from '../config/schema.js';
import type { Clock } from '../model/clock.js';
import type { BootEvent, StoredEvent } from '../model/events.js';
import { type EffectRunner, type MachineStatus, RESTING, type State } from '../model/status.js';
import type { InstallToken } from '../model/token.js';
import type { Repos, Store } from '../store/store.js';
import type { EventLog } from './event-log.js';
import { canTransition, type Effect, IN_FLIGHT, type Move } from './table.js';
import { newInstallToken } from './tokens.js';

/**
 * The only code that writes machine status (and, with it, install tokens). Each call is one
 * commit: the status row, the token changes and the state events together or not at all, and
 * listeners hear of the events only once they are committed. A change without token changes is
 * one status put with its events (one statement on PostgreSQL); with them, a transaction.
 * Callers hold the machine's lock (see Lifecycle).
 */
export class StateWriter {
  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
    private readonly config: Config,
    private readonly clock: Clock,
    /** Recorded with every state that has an effect under way: the caller runs it (see Lifecycle). */
    private readonly runner: EffectRunner,
  ) {}

  /**
   * Applies a decision's moves in order, with its token effects; returns the final status, stored
   * once whatever the number of moves (each still has its state event). `cause`: the event of what
   * moved it (an installer's callback), written first, in the same commit.
   */
  async apply(from: MachineStatus, moves: Move[], effects: Effect[], cause?: BootEvent): Promise<{ status: MachineStatus; token?: InstallToken }> {
    const now = this.clock.now();
    // Written last, with the status: on PostgreSQL an event insert takes the lock that orders
    // every writer's event ids, held until COMMIT, so the later it comes the shorter others wait.
    const events = cause ? [{ event: cause, at: now }] : [];
    const token = moves.length && effects.includes('issue-token') ? newInstallToken(from.machine, this.config.tokens.ttlSeconds, now) : undefined;
    let s = from;
    for (const [i, m] of moves.entries()) {
      const next = this.next(s, m.to, i === moves.length - 1 && token ? { ...m.patch, installId: token.installId } : { ...m.patch }, now);
      events.push({ event: stateEvent(s, next, m.message), at: now });
      s = next;
    }
    const revoke = effects.includes('revoke-tokens');
    // One version step for the whole decision: the states it passes through are never stored.
    if (s !== from) s = { ...s, version: from.version + 1 };
    if (s !== from && !revoke && !token) return { status: await this.commit(s, events) };
    return this.write(async (tx, stored) => {
      if (revoke) await tx.tokens.revokeForMachine(from.machine, now);
      if (token) await tx.tokens.put(token);
      stored.push(...(s === from ? await tx.events.appendMany(events) : await tx.status.put(s, events)));
      return { status: s, token };
    });
  }

  /** A machine enters the lifecycle as `registered`, in the transaction that writes its row. */
  register(name: string, writeMachine: (tx: Repos) => Promise<unknown>): Promise<MachineStatus> {
    return this.write(async (tx) => {
      await writeMachine(tx);
      const existing = await tx.status.get(name);
      if (existing) return existing;
      const s: MachineStatus = { machine: name, state: 'registered', netboot: 'local', stateSince: this.clock.now(), hostKeys: [], version: 1 };
      await tx.status.put(s);
      return s;
    });
  }

  /**
   * A new box takes a machine's slot: its rows (written by `writeBox`), the pinned host keys
   * cleared (the new box has its own) and the `replaced` event commit together.
   */
  replaceBox(name: string, writeBox: (tx: Repos) => Promise<unknown>, event: BootEvent): Promise<MachineStatus | undefined> {
    return this.write(async (tx, stored) => {
      await writeBox(tx);
      const s = await tx.status.get(name);
      const next = s && { ...s, hostKeys: [], version: s.version + 1 };
      const events = [{ event, at: this.clock.now() }];
      stored.push(...(next ? await tx.status.put(next, events) : await tx.events.appendMany(events)));
      return next;
    });
  }

  /** A machine leaves: its status and tokens go in the transaction that deletes its row. */
  remove<T>(name: string, deleteMachine: (tx: Repos) => Promise<T>): Promise<T> {
    return this.write(async (tx) => {
      const result = await deleteMachine(tx);
      await tx.status.delete(name);
      await tx.tokens.deleteForMachine(name);
      return result;
    });
  }

  /**
   * What an install learned that is not a state: the host keys to pin, the addresses it is bound
   * to; with the event that says so, if any, in the same transaction.
   */
  note(s: MachineStatus, patch: Pick<Partial<MachineStatus>, 'hostKeys' | 'bootIp' | 'installerIp'>, event?: BootEvent): Promise<MachineStatus> {
    return this.commit({ ...s, ...patch, version: s.version + 1 }, event ? [{ event, at: this.clock.now() }] : []);
  }

  /**
   * An effect whose runner is gone (runners.ts) gets this instance as its runner, with the event
   * that says so, in one transaction. Of several instances that try at once, the version lets one
   * write it: the others read it again and find a live runner.
   */
  resume(s: MachineStatus, event: BootEvent): Promise<MachineStatus> {
    return this.commit({ ...s, runner: this.runner, version: s.version + 1 }, [{ event, at: this.clock.now() }]);
  }

  private async write<T>(fn: (tx: Repos, stored: StoredEvent[]) => Promise<T>): Promise<T> {
    // Events reported before this change are stored first, so ids follow the order things happened.
    await this.events.flush();
    const stored: StoredEvent[] = [];
    const result = await this.store.transaction((tx) => fn(tx, stored));
    this.events.publish(stored);
    return result;
  }

  /** A status and its events, without a transaction around them: the store commits them together. */
  private async commit(s: MachineStatus, events: { event: BootEvent; at: number }[]): Promise<MachineStatus> {
    await this.events.flush();
    this.events.publish(await this.store.status.put(s, events));
    return s;
  }

  private next(s: MachineStatus, to: State, patch: Partial<MachineStatus>, now: number): MachineStatus {
    if (!canTransition(s.state, to)) throw new Error(`bug: transition ${s.state} → ${to} is not in the table (${s.machine})`);
    const runner = IN_FLIGHT[to] ? this.runner : undefined;
    return { ...s, phase: undefined, reason: undefined, hint: undefined, runner, ...patch, state: to, stateSince: now, deadline: this.deadlineFor(to, now), version: s.version + 1 };
  }

  private deadlineFor(state: State, now: number): number | undefined {
    if (RESTING.includes(state)) return undefined;
    const d = this.config.deadlines;
    const seconds = state === 'reinstall-requested' ? d['power-cycling'] : d[state as keyof typeof d];
    return seconds === undefined ? undefined : now + seconds * 1000;
  }
}

function stateEvent(from: MachineStatus, to: MachineStatus, message: string | undefined): BootEvent {
  return {
    machine: to.machine,
    kind: 'state',
    level: to.state === 'failed' ? 'error' : 'info',
    message: message ?? (to.state === 'failed' ? `failed in ${to.phase}: ${to.reason}` : `${from.state} → ${to.state}`),
    data: { from: from.state, to: to.state, ...(to.phase ? { phase: to.phase, reason: to.reason, hint: to.hint } : {}) },
  };
}
