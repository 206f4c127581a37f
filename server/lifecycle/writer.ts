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
 * store transaction: the status rows, the token changes and the state events commit together
 * or not at all, and listeners hear of the events only once they are committed. Callers hold
 * the machine's lock (see Lifecycle).
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
   * Applies a decision's moves in order, with its token effects; returns the final status. `cause`:
   * the event of what moved it (an installer's callback), written first, in the same transaction.
   */
  async apply(from: MachineStatus, moves: Move[], effects: Effect[], cause?: BootEvent): Promise<{ status: MachineStatus; token?: InstallToken }> {
    return this.write(async (tx, stored) => {
      const now = this.clock.now();
      // Written last, in one statement: on PostgreSQL an event insert takes the lock that orders
      // every writer's event ids, held until COMMIT, so the later it comes the shorter others wait.
      const events = cause ? [{ event: cause, at: now }] : [];
      let s = from;
      let token: InstallToken | undefined;
      if (effects.includes('revoke-tokens')) await tx.tokens.revokeForMachine(s.machine, now);
      for (const [i, m] of moves.entries()) {
        const patch = { ...m.patch };
        if (i === moves.length - 1 && effects.includes('issue-token')) {
          token = newInstallToken(s.machine, this.config.tokens.ttlSeconds, now);
          await tx.tokens.put(token);
          patch.installId = token.installId;
        }
        const next = this.next(s, m.to, patch, now);
        await tx.status.put(next);
        events.push({ event: stateEvent(s, next, m.message), at: now });
        s = next;
      }
      stored.push(...(await tx.events.appendMany(events)));
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
      if (next) await tx.status.put(next);
      stored.push(await tx.events.append(event, this.clock.now()));
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
    return this.write(async (tx, stored) => {
      const next = { ...s, ...patch, version: s.version + 1 };
      await tx.status.put(next);
      if (event) stored.push(await tx.events.append(event, this.clock.now()));
      return next;
    });
  }

  /**
   * An effect whose runner is gone (runners.ts) gets this instance as its runner, with the event
   * that says so, in one transaction. Of several instances that try at once, the version lets one
   * write it: the others read it again and find a live runner.
   */
  resume(s: MachineStatus, event: BootEvent): Promise<MachineStatus> {
    return this.write(async (tx, stored) => {
      const next = { ...s, runner: this.runner, version: s.version + 1 };
      await tx.status.put(next);
      stored.push(await tx.events.append(event, this.clock.now()));
      return next;
    });
  }

  private async write<T>(fn: (tx: Repos, stored: StoredEvent[]) => Promise<T>): Promise<T> {
    // Events reported before this change are stored first, so ids follow the order things happened.
    await this.events.flush();
    const stored: StoredEvent[] = [];
    const result = await this.store.transaction((tx) => fn(tx, stored));
    this.events.publish(stored);
    return result;
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
