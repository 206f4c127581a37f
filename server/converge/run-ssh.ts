import { systemClock } from '../model/clock.js';
import { connectWithRetry } from './connect.js';
import { remoteCommand } from './shell.js';
import type { SshSession } from './ssh-session.js';
import type { ExecResult, SshTarget } from './types.js';

export interface RunSshOptions {
  /** connection and command together; default 30 s */
  timeoutMs?: number;
  /** aborting closes the connection and rejects with the signal's reason */
  signal?: AbortSignal;
}

/**
 * Runs one command on a host with kickstand's key and the pinned host key, as root (`sudo -n` for
 * another user). For the SSH power driver: a `systemctl reboot` resolves with code null when the
 * host drops the connection before answering. Rejects with a ConnectError when the host is not
 * reached in time.
 */
export async function runSsh(target: SshTarget, command: string, opts: RunSshOptions = {}): Promise<ExecResult> {
  const { signal } = opts;
  signal?.throwIfAborted();
  const deadline = systemClock.now() + (opts.timeoutMs ?? 30_000);
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  const connecting = connectWithRetry(target, { deadline });
  let session: SshSession | undefined;
  try {
    session = await Promise.race([connecting, aborted]);
    const left = Math.max(1, deadline - systemClock.now());
    return await Promise.race([session.exec(remoteCommand(command, target.user, left), left), aborted]);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (session) session.end();
    // Aborted while connecting: the attempt may still succeed later and must not stay open.
    else connecting.then((s) => s.end(), () => {});
  }
}
