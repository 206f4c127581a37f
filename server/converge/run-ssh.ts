import { connectWithRetry } from './connect.js';
import { remoteCommand } from './shell.js';
import type { ExecResult, SshTarget } from './types.js';

/**
 * Runs one command on a host with kickstand's key and the pinned host key, as root (`sudo -n` for
 * another user). For the SSH power driver: a `systemctl reboot` resolves with code null when the
 * host drops the connection before answering. Rejects with a ConnectError when the host is not
 * reached before `timeoutMs`.
 */
export async function runSsh(target: SshTarget, command: string, timeoutMs = 30_000): Promise<ExecResult> {
  const deadline = Date.now() + timeoutMs;
  const session = await connectWithRetry(target, { deadline });
  try {
    return await session.exec(remoteCommand(command, target.user), Math.max(1, deadline - Date.now()));
  } finally {
    session.end();
  }
}
