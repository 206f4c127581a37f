import { randomUUID } from 'node:crypto';
import type { Clock } from '../model/clock.js';
import type { EffectRunner } from '../model/status.js';

/**
 * How long another instance must be seen without its name lock before its effects are taken. A
 * live instance whose lock connection broke (PostgreSQL restarted) takes its name back within
 * about a second (advisory-lock.ts retries every second); a dead one does not come back.
 */
export const GONE_AFTER_MS = 3_000;

/** Which of these instance names a live kickstand holds now (Store.liveInstances). */
export type LiveInstances = (names: string[]) => Promise<Set<string>>;

/**
 * This run of this instance, which the effects it starts are recorded under, and whether the
 * runner recorded for another effect is gone:
 * - an earlier run under this instance's own name is gone (this run holds the name);
 * - where the store tells which instances hold their name lock (PostgreSQL), another instance
 *   is gone once seen without it for GONE_AFTER_MS (look() reads that, once per sweep);
 * - where it cannot (SQLite: one kickstand per store at a time), every other run is gone.
 */
export class Runners {
  readonly self: EffectRunner;
  /** Instances seen without their name lock in the last look, and since when. */
  private missingSince = new Map<string, number>();

  constructor(
    instance: string,
    private readonly liveInstances: LiveInstances | undefined,
    private readonly clock: Clock,
  ) {
    this.self = { instance, run: randomUUID() };
  }

  /** Reads which of these runners' instances hold their names now, for gone(). */
  async look(runners: (EffectRunner | undefined)[]): Promise<void> {
    if (!this.liveInstances) return;
    const names = [...new Set(runners.flatMap((r) => (r && r.instance !== this.self.instance ? [r.instance] : [])))];
    const live = names.length ? await this.liveInstances(names) : new Set<string>();
    const now = this.clock.now();
    const missing = new Map<string, number>();
    for (const n of names) if (!live.has(n)) missing.set(n, this.missingSince.get(n) ?? now);
    this.missingSince = missing;
  }

  /** Why nobody runs the effect recorded under `r` any more; undefined while its runner may. */
  gone(r: EffectRunner | undefined): string | undefined {
    if (r?.instance === this.self.instance) return r.run === this.self.run ? undefined : `instance ${r.instance} restarted`;
    if (!this.liveInstances)
      return r ? `instance ${r.instance} is gone (one kickstand at a time on this store)` : 'the kickstand that started it is gone (it was started before this one)';
    // Written by a kickstand that recorded no runner: whether it still runs cannot be told; the deadline decides.
    if (!r) return undefined;
    const since = this.missingSince.get(r.instance);
    return since !== undefined && this.clock.now() - since >= GONE_AFTER_MS ? `instance ${r.instance} is gone (no name lock)` : undefined;
  }
}
