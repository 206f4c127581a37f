import type { State } from './status.js';
import type { StoredEvent } from './events.js';

/** GET /api/v1/machines/{name}/progress: what the API answers and the CLI shows. */
export interface Progress {
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
  events: StoredEvent[];
}
