/**
 * The switch a VM's NIC is cabled to, as LLDP tells it: Debian's lldpd inside the test's
 * namespace, on the VM's tap itself (a Linux bridge does not forward LLDP's 01:80:c2:00:00:0e,
 * so a daemon on br0 would never reach the guest). Its own control socket and pid file, its
 * configuration given at start (-O: lldpd stays paused until lldpcli has applied it, so the first
 * frame already carries the switch's name), one frame a second. Dies with the test (ns.spawn).
 */
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { scratchDir, type Netns } from './netns.js';
import { survives } from './run.js';

export interface NsLldpdOptions {
  /** The namespace's interface the "switch port" is: a VM's tap (tap0, …). */
  port: string;
  /** LLDP system name (the switch's hostname). */
  systemName: string;
  /** A local port id such as Ethernet1/12 (subtype local); default the interface name (subtype ifname). */
  portId?: string;
  portDescription?: string;
  /** Seconds between frames; default 1. */
  txIntervalS?: number;
}

export interface NsLldpd {
  /** lldpcli's control socket. */
  readonly ctl: string;
  /** `lldpcli -f json show neighbors`: what the switch hears from the VM. */
  neighbors(): Promise<unknown>;
  stop(): Promise<void>;
}

function quoted(v: string): string {
  if (/["\\\n]/.test(v)) throw new Error(`lldpd setting ${JSON.stringify(v)}: no quotes, backslashes or newlines`);
  return `"${v}"`;
}

export async function startNsLldpd(ns: Netns, opts: NsLldpdOptions): Promise<NsLldpd> {
  // lldpd runs lldpcli for its configuration as its own user (_lldpd), which must reach the
  // control socket: a directory of its own, not under the namespace's private (0700) one.
  const dir = await scratchDir(`lldpd-${opts.port}`);
  await chmod(dir, 0o755);
  const ctl = join(dir, 'ctl');
  const conf = join(dir, 'lldpd.conf');
  const port = quoted(opts.port);
  const lines = [`configure system hostname ${quoted(opts.systemName)}`, `configure lldp tx-interval ${opts.txIntervalS ?? 1}`];
  if (opts.portId) {
    lines.push(`configure ports ${port} lldp portidsubtype local ${quoted(opts.portId)}${opts.portDescription ? ` description ${quoted(opts.portDescription)}` : ''}`);
  } else {
    lines.push('configure lldp portidsubtype ifname');
    if (opts.portDescription) lines.push(`configure ports ${port} lldp portdescription ${quoted(opts.portDescription)}`);
  }
  await writeFile(conf, lines.join('\n') + '\n');

  const child = ns.spawn('lldpd', ['-d', '-u', ctl, '-p', join(dir, 'lldpd.pid'), '-O', conf, '-I', opts.port]);
  let log = '';
  child.stderr!.on('data', (d) => (log = (log + d).slice(-4000)));
  child.stdout!.resume();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await survives(child, 200, `lldpd on ${opts.port}`);

  const lldpcli = async (...args: string[]) => JSON.parse(await ns.exec('lldpcli', ['-u', ctl, '-f', 'json', ...args])) as unknown;
  // Ready once the configuration is applied: the port's own chassis carries the system name.
  const until = Date.now() + 10_000;
  for (;;) {
    const shown = await lldpcli('show', 'interfaces').catch(() => undefined);
    if (shown && JSON.stringify(shown).includes(JSON.stringify(opts.systemName))) break;
    if (child.exitCode !== null || Date.now() > until) throw new Error(`lldpd on ${opts.port} not configured within 10 s: ${log}`);
    await sleep(100);
  }

  return {
    ctl,
    neighbors: () => lldpcli('show', 'neighbors'),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
