import type { State } from './status.js';
import type { StoredEvent } from './events.js';

/** Where a machine's lifecycle stands: one row of GET /api/v1/progress. */
export interface ProgressSummary {
  machine: string;
  state: State;
  phase?: State;
  reason?: string;
  hint?: string;
  step: number;
  of: number;
  percent: number;
  startedAt?: string;
  stateSince: string;
  deadline?: string;
  lastEvent?: StoredEvent;
}

/** GET /api/v1/machines/{name}/progress: what the API answers and the CLI shows. */
export interface Progress extends ProgressSummary {
  events: StoredEvent[];
}

/** One install of a machine, as its state events tell it (GET /api/v1/machines/{name}/installs). */
export interface InstallRecord {
  startedAt: string;
  /** Where it got to: the state now for the running one, else ready or failed (a forced reinstall fails the one before). */
  state: State;
  endedAt?: string;
  phase?: State;
  reason?: string;
}
