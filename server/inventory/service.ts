import { isDeepStrictEqual } from 'node:util';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import { InventoryRefused } from '../model/errors.js';
import type { Machine } from '../model/machine.js';
import type { Profile } from '../model/profile.js';
import type { Reads } from '../reads/reads.js';
import type { Repos, Store } from '../store/store.js';
import type { Inventory } from './load.js';

export type Lint = {
  profile?: (p: Profile) => { path: string; message: string }[];
  machine?: (m: Machine, p: Profile) => { path: string; message: string }[];
};

export type Action = 'create' | 'update' | 'unchanged' | 'delete';
export interface PlanItem {
  kind: 'profile' | 'machine';
  name: string;
  action: Action;
}

/**
 * Every inventory write (API, `apply`, start-up load) goes through here, so the same checks
 * hold whichever door a machine comes in by: profile references, MAC ownership, semantic lint.
 */
export class InventoryService {
  constructor(
    private readonly store: Store,
    private readonly reads: Reads,
    private readonly lifecycle: Lifecycle,
    private readonly lint: Lint = {},
  ) {}

  async putProfile(p: Profile): Promise<Action> {
    const problems = this.lint.profile?.(p) ?? [];
    if (problems.length) throw new InventoryRefused(problems);
    const before = await this.reads.profile(p.name);
    if (before && isDeepStrictEqual(before, p)) return 'unchanged';
    // A profile change must keep every machine that uses it renderable.
    if (before && this.lint.machine)
      for (const m of (await this.reads.machines()).filter((m) => m.profile === p.name)) {
        const issues = this.lint.machine(m, p);
        if (issues.length) throw new InventoryRefused(issues.map((i) => ({ path: i.path, message: `machine ${m.name}: ${i.message}` })));
      }
    await this.store.profiles.put(p);
    return before ? 'update' : 'create';
  }

  /** `alsoWrite` commits with the machine (an accepted discovery: its hardware and entry). */
  async putMachine(m: Machine, alsoWrite?: (tx: Repos) => Promise<void>): Promise<Action> {
    const profile = await this.reads.profile(m.profile);
    if (!profile) throw new InventoryRefused([{ path: 'profile', message: `no profile named "${m.profile}"` }]);
    const problems = this.lint.machine?.(m, profile) ?? [];
    if (problems.length) throw new InventoryRefused(problems);
    const before = await this.reads.machine(m.name);
    if (before && isDeepStrictEqual(before, m) && !alsoWrite) return 'unchanged';
    await this.lifecycle.register(m.name, async (tx) => {
      await tx.machines.put(m);
      await alsoWrite?.(tx);
    });
    return before ? 'update' : 'create';
  }

  deleteMachine(name: string): Promise<boolean> {
    return this.lifecycle.remove(name, (tx) => tx.machines.delete(name));
  }

  deleteProfile(name: string): Promise<boolean> {
    return this.store.profiles.delete(name);
  }

  /** What apply would do: create / update / unchanged, and delete only with prune. */
  async plan(desired: Inventory, prune: boolean): Promise<PlanItem[]> {
    const items: PlanItem[] = [];
    const diff = async <T extends { name: string }>(kind: PlanItem['kind'], want: T[], have: T[]) => {
      const byName = new Map(have.map((h) => [h.name, h]));
      for (const w of want) {
        const h = byName.get(w.name);
        items.push({ kind, name: w.name, action: !h ? 'create' : isDeepStrictEqual(h, w) ? 'unchanged' : 'update' });
      }
      if (prune) for (const h of have) if (!want.some((w) => w.name === h.name)) items.push({ kind, name: h.name, action: 'delete' });
    };
    await diff('profile', desired.profiles, await this.reads.profiles());
    await diff('machine', desired.machines, await this.reads.machines());
    return items;
  }

  /**
   * Applies in dependency order: profiles, then machines, then deletions (machines before the
   * profiles they use). Stops at the first refusal and names it.
   */
  async apply(desired: Inventory, prune: boolean): Promise<PlanItem[]> {
    const plan = await this.plan(desired, prune);
    const named = async (kind: string, name: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        if (err instanceof InventoryRefused) throw new InventoryRefused(err.issues.map((i) => ({ path: `${kind} ${name}: ${i.path}`, message: i.message })));
        throw err;
      }
    };
    for (const p of desired.profiles) await named('profile', p.name, () => this.putProfile(p));
    for (const m of desired.machines) await named('machine', m.name, () => this.putMachine(m));
    for (const item of plan.filter((i) => i.action === 'delete' && i.kind === 'machine')) await this.deleteMachine(item.name);
    for (const item of plan.filter((i) => i.action === 'delete' && i.kind === 'profile')) await this.deleteProfile(item.name);
    return plan;
  }
}
