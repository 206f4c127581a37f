import { ConnectError } from './errors.js';
import { SshSession } from './ssh-session.js';
import type { SshTarget } from './types.js';

/**
 * Is the host that was installed there still up? It is when something at its address completes
 * an SSH handshake with the host key pinned for it: that proves the old box (a login refused
 * after the handshake still does). Nothing listening, no route, a timeout, or another host key
 * mean it is not there. Replacement by cabling asks before a new box takes the slot.
 */
export async function answersWithPinnedKey(target: SshTarget, timeoutMs: number): Promise<boolean> {
  if (!target.pinnedHostKeys.length) return false;
  try {
    (await SshSession.open(target, timeoutMs)).end();
    return true;
  } catch (err) {
    return err instanceof ConnectError && err.kind === 'auth';
  }
}
