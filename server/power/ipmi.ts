/**
 * IPMI power driver over ipmitool (lanplus, cipher suite 3: without -C ipmitool spends ≈ 10 s
 * probing ciphers). The password travels in the IPMI_PASSWORD environment variable (-E), never on
 * the command line where `ps` would show it; a child still running at the deadline is killed.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import type { Machine } from '../model/machine.js';
import type { EventSink } from '../model/events.js';
import { powerCall } from './call.js';
import { bmcPassword, bmcUsername } from './credentials.js';
import type { Firmware } from '../model/boot.js';
import type { PowerDriver, PowerState } from './driver.js';
import { PowerError } from './errors.js';

export interface IpmiTarget {
  host: string;
  port: number;
}

/** "host", "host:port", "[v6]" or "[v6]:port"; 623 is the RMCP port. */
export function ipmiTarget(address: string): IpmiTarget {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (v6) return { host: v6[1], port: Number(v6[2] ?? 623) };
  if (net.isIPv6(address)) return { host: address, port: 623 };
  const [host, port] = address.split(':');
  return { host, port: Number(port ?? 623) };
}

export const IPMI = {
  status: ['chassis', 'power', 'status'],
  on: ['chassis', 'power', 'on'],
  off: ['chassis', 'power', 'off'],
  cycle: ['chassis', 'power', 'cycle'],
  /** Without `persistent` the boot device applies to the next boot only. */
  pxe: (firmware: Firmware) => (firmware === 'uefi' ? ['chassis', 'bootdev', 'pxe', 'options=efiboot'] : ['chassis', 'bootdev', 'pxe']),
};

/** -v makes ipmitool say why a session failed (RAKP errors), which tells a wrong password from silence. */
export function ipmitoolArgs(target: IpmiTarget, user: string, command: string[]): string[] {
  return ['-I', 'lanplus', '-C', '3', '-H', target.host, '-p', String(target.port), '-U', user, '-E', '-v', ...command];
}

export function parsePowerStatus(stdout: string): PowerState {
  const m = /Chassis Power is (on|off)/i.exec(stdout);
  if (!m) throw new PowerError('unexpected', `ipmitool answered "${stdout.trim().slice(0, 200)}" to power status`);
  return m[1].toLowerCase() as PowerState;
}

export function ipmiFailure(stderr: string, user: string, target: IpmiTarget): PowerError {
  if (/RAKP 2 HMAC is invalid|unauthorized name|Invalid user name|insufficient privilege|Authentication type .* not supported/i.test(stderr))
    return new PowerError('auth', `authentication refused for user "${user}": check bmc.username and bmc.password / bmc.passwordFile`);
  if (/Unable to establish IPMI v2 \/ RMCP\+ session/.test(stderr))
    return new PowerError('unreachable', `no IPMI session with ${target.host}:${target.port}: the BMC does not answer there, or has IPMI over LAN (lanplus, cipher suite 3) disabled`);
  const said = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^Loading IANA PEN Registry|^Running Get VSO|^Discovered IPMB|^Invalid completion code received: Invalid command/.test(l))
    .pop();
  return new PowerError('unexpected', `ipmitool failed${said ? `: ${said.slice(0, 300)}` : ''}`);
}

function runIpmitool(bin: string, args: string[], password: string, signal: AbortSignal): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { ...process.env, IPMI_PASSWORD: password }, stdio: ['ignore', 'pipe', 'pipe'], signal, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') reject(new PowerError('config', `${bin} not found: install ipmitool`));
      else reject(signal.aborted && signal.reason instanceof PowerError ? signal.reason : err);
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export function ipmiDriver(machine: Machine, sink: EventSink, bin: string, secretDirs: readonly string[]): PowerDriver {
  const bmc = machine.bmc;
  if (!bmc.address) throw new PowerError('config', `${machine.name}: power driver ipmi needs bmc.address`);
  const target = ipmiTarget(bmc.address);

  const run = <T>(what: string, work: (ipmi: (command: string[]) => Promise<string>) => Promise<T>) =>
    powerCall(
      { context: `${machine.name}: IPMI ${what} at ${target.host}:${target.port}`, seconds: bmc.timeoutSeconds, secret: () => bmcPassword(bmc, machine.name, secretDirs) },
      (signal, password) => {
        const user = bmcUsername(bmc, machine.name);
        return work(async (command) => {
          const r = await runIpmitool(bin, ipmitoolArgs(target, user, command), password, signal);
          if (r.code !== 0) throw ipmiFailure(r.stderr, user, target);
          return r.stdout;
        });
      },
    );

  const report = (command: string[]) =>
    sink.report({ machine: machine.name, kind: 'power', level: 'info', message: `IPMI ${command.join(' ')} done`, data: { driver: 'ipmi', command: command.join(' ') } });
  const act = (what: string, command: string[]) =>
    run(what, async (ipmi) => {
      await ipmi(command);
      report(command);
    });

  return {
    status: () => run('power status', async (ipmi) => parsePowerStatus(await ipmi(IPMI.status))),
    on: () => act('power on', IPMI.on),
    off: () => act('power off', IPMI.off),
    // A power cycle of a chassis that is off is refused or ignored by many BMCs: power it on instead.
    cycle: () =>
      run('power cycle', async (ipmi) => {
        const command = parsePowerStatus(await ipmi(IPMI.status)) === 'off' ? IPMI.on : IPMI.cycle;
        await ipmi(command);
        report(command);
      }),
    bootOnceToPxe: (firmware: Firmware) => act('one-time PXE boot', IPMI.pxe(firmware)),
  };
}
