import { systemClock } from '../model/clock.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectWithRetry, type WaitOptions } from './connect.js';
import { remoteCommand } from './shell.js';
import type { SshSession } from './ssh-session.js';
import type { ExecResult, SshTarget } from './types.js';

/**
 * A host being converged: runs scripts with root rights, uploads files, and survives a reboot by
 * reconnecting with the same pinned key. Steps see only this, never the SSH session.
 */
export class Host {
  private constructor(
    readonly target: SshTarget,
    private session: SshSession,
    private readonly onRetry: WaitOptions['onRetry'],
  ) {}

  static async connect(target: SshTarget, wait: WaitOptions): Promise<Host> {
    return new Host(target, await connectWithRetry(target, wait), wait.onRetry);
  }

  run(script: string, timeoutMs: number): Promise<ExecResult> {
    return this.session.exec(remoteCommand(script, this.target.user, timeoutMs), timeoutMs);
  }

  upload(content: Buffer, timeoutMs: number): Promise<string> {
    return this.session.upload(content, timeoutMs);
  }

  /** Asks the host to reboot, waits for the connection to drop, then for the host to answer again. */
  async reboot(deadline: number): Promise<void> {
    const down = this.session.closed.then(() => true);
    const asked = await this.run('systemctl reboot', deadline - systemClock.now());
    if (asked.code !== null && asked.code !== 0) throw new Error(`systemctl reboot exited ${asked.code}: ${asked.stderr.trim()}`);
    const giveUp = new AbortController();
    const wentDown = await Promise.race([down, sleep(Math.max(0, deadline - systemClock.now()), false, { signal: giveUp.signal })]).finally(() => giveUp.abort());
    if (!wentDown) throw new Error('the host accepted the reboot but did not go down before the step deadline');
    this.session = await connectWithRetry(this.target, { deadline, onRetry: this.onRetry });
  }

  end(): void {
    this.session.end();
  }
}
