import type { StoredEvent } from './events.js';

/**
 * The steps an interrupted apply may have changed on the host, read from the events it wrote
 * (converge/converge.ts: "step X started", then its result with data.status). A run resumed after its
 * instance died finds those steps already as declared and reports them `ok`; without this, the
 * triggers they feed (a service's restartOn, a reboot `when: changed`) would never fire, and the
 * host would keep running its old configuration. A step that started and never reported, or
 * failed part-way through its apply, counts as changed: one restart too many is the safe side.
 */
export function changedByInterruptedRuns(events: readonly StoredEvent[]): string[] {
  const changed = new Set<string>();
  const open = new Set<string>();
  for (const e of events) {
    const step = e.data?.step;
    if (e.kind !== 'converge' || e.data?.mode !== 'apply' || typeof step !== 'string') continue;
    const status = e.data.status;
    if (status === undefined) open.add(step);
    else {
      open.delete(step);
      if (status === 'changed' || status === 'failed') changed.add(step);
    }
  }
  return [...new Set([...changed, ...open])];
}
