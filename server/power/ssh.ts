/**
 * SSH "power" driver for machines without a usable BMC: it can only reboot a host whose OS still
 * answers, through the converger's SSH runner (and its pinned host key). The next boot is a
 * network boot only if the machine's boot order puts the network first; kickstand's netboot
 * setting then decides between installing and booting the local disk.
 */
import type { Machine } from '../model/machine.js';
import type { EventSink } from '../model/events.js';
import { powerCall } from './call.js';
import type { Firmware } from '../model/boot.js';
import type { PowerDriver } from './driver.js';
import { PowerError } from './errors.js';

export interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Supplied by the converger: runs one command on the machine, honouring the signal. */
export type RunSsh = (machine: Machine, command: string, signal: AbortSignal) => Promise<SshResult>;

const NOT_ROOT = 77;

/**
 * Detached so that the SSH command returns (exit 0) before the connection dies with the host;
 * the privilege check runs first so a missing sudo right is reported instead of lost.
 */
export const REBOOT_COMMAND =
  `S=; if [ "$(id -u)" != 0 ]; then sudo -n true </dev/null >/dev/null 2>&1 || exit ${NOT_ROOT}; S='sudo -n'; fi; ` +
  `nohup sh -c "sleep 1; $S systemctl reboot || $S reboot" </dev/null >/dev/null 2>&1 &`;

export function sshDriver(machine: Machine, sink: EventSink, runSsh: RunSsh): PowerDriver {
  const run = <T>(what: string, work: (signal: AbortSignal) => Promise<T>) =>
    powerCall({ context: `${machine.name}: SSH ${what}`, seconds: machine.bmc.timeoutSeconds }, work);

  const exec = async (command: string, signal: AbortSignal): Promise<SshResult> => {
    try {
      return await runSsh(machine, command, signal);
    } catch (err) {
      if (signal.aborted && signal.reason instanceof PowerError) throw signal.reason;
      throw new PowerError('unreachable', `the host does not answer SSH (${(err as Error).message}): it cannot be rebooted over SSH, power-cycle it by hand`);
    }
  };

  const unsupported = (action: string) => () =>
    Promise.reject(
      new PowerError('unsupported', `${machine.name}: power ${action} is not possible with the ssh driver; use a BMC driver (redfish, ipmi) or do it by hand`),
    );

  return {
    // "off" here means "does not answer SSH": without a BMC nothing can tell a dead host from a powered-off one.
    status: () => run('status', async (signal) => ((await exec('true', signal)).code === 0 ? 'on' : 'off')).catch(() => 'off' as const),
    on: unsupported('on'),
    off: unsupported('off'),
    cycle: () =>
      run('reboot', async (signal) => {
        const r = await exec(REBOOT_COMMAND, signal);
        if (r.code === NOT_ROOT) throw new PowerError('auth', 'the SSH user is not root and may not run sudo without a password: cannot reboot');
        if (r.code !== 0) throw new PowerError('unexpected', `the reboot command exited ${r.code}${r.stderr.trim() ? `: ${r.stderr.trim().slice(0, 300)}` : ''}`);
        sink.report({ machine: machine.name, kind: 'power', level: 'info', message: 'reboot requested over SSH', data: { driver: 'ssh' } });
      }),
    bootOnceToPxe: async (firmware: Firmware) => {
      sink.report({
        machine: machine.name,
        kind: 'power',
        level: 'debug',
        message: `ssh driver sets no boot override: the machine must boot from the network first (${firmware})`,
        data: { driver: 'ssh', firmware },
      });
    },
  };
}
