import { systemClock } from '../model/clock.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay } from './backoff.js';
import { ConnectError } from './errors.js';
import { SshSession } from './ssh-session.js';
import type { SshTarget } from './types.js';

export interface WaitOptions {
  /** epoch ms: no attempt starts after it, and none outlives it */
  deadline: number;
  /** cap for one attempt (TCP connect + handshake + login) */
  attemptTimeoutMs?: number;
  /** told about each failed attempt that will be retried, with the delay before the next one */
  onRetry?: (err: ConnectError, attempt: number, delayMs: number) => void;
}

/**
 * Connects to a host that may still be booting: retries refused/timed-out/unreachable attempts with
 * backoff until the deadline, fails at once on a wrong host key or a refused login.
 */
export async function connectWithRetry(target: SshTarget, opts: WaitOptions): Promise<SshSession> {
  const started = systemClock.now();
  let last = new ConnectError('timeout', `${target.host}:${target.port ?? 22}: the deadline passed before a connection was tried`);
  for (let attempt = 1; ; attempt++) {
    const remaining = opts.deadline - systemClock.now();
    // An attempt with less than this left cannot complete a login; report the last real reason.
    if (remaining < 100) {
      const seconds = Math.round((systemClock.now() - started) / 100) / 10;
      throw new ConnectError(last.kind, `${last.message} (gave up at the deadline after ${attempt - 1} attempt(s) in ${seconds}s)`);
    }
    try {
      return await SshSession.open(target, Math.min(opts.attemptTimeoutMs ?? 20_000, remaining));
    } catch (e) {
      last = e instanceof ConnectError ? e : new ConnectError('unreachable', (e as Error).message);
    }
    if (!last.retryable) throw last;
    const delayMs = Math.max(0, Math.min(backoffDelay(attempt - 1), opts.deadline - systemClock.now()));
    opts.onRetry?.(last, attempt, delayMs);
    await sleep(delayMs);
  }
}
