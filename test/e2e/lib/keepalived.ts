/**
 * keepalived (Debian's, VRRP only) holding a floating address on a host namespace's bridge: the
 * boot address machines are given (http.publicUrl, dhcp.serverAddress) follows whichever
 * kickstand is alive. A track script asks the local kickstand's /healthz every second; when it
 * fails twice running (a dead process is refused at once; one slow answer on a loaded machine is
 * not enough), keepalived goes to FAULT and drops the address, and the peer, which
 * no longer hears advertisements at a higher priority, becomes MASTER and announces the address
 * with gratuitous ARP. Runs in the foreground (-n), logging to stdout (-l), tied to the test
 * process (ns.spawn); its config, pid files and check script live in the namespace's scratch
 * directory (root-owned, 0700: what enable_script_security asks of a script's path).
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { bridgeAddresses } from './rack-hosts.js';
import type { Netns } from './netns.js';
import { survives } from './run.js';

export interface KeepalivedOptions {
  /** The floating address, e.g. 10.77.0.1. */
  vip: string;
  prefixLength: number;
  /** Higher wins while both are healthy. */
  priority: number;
  /** Every instance of one address shares it (1–255). */
  virtualRouterId: number;
  /** The URL the track script checks with curl -f (the local kickstand's /healthz). */
  healthUrl: string;
  routerId: string;
}

export interface Keepalived {
  /** Whether the address is on this namespace's bridge now. */
  holds(): Promise<boolean>;
  /** Resolves once the address is here (true) or `ms` passed (false). */
  waitHolds(ms: number): Promise<boolean>;
  /** keepalived's own log lines so far. */
  log(): string;
  stop(): Promise<void>;
}

export async function startKeepalived(ns: Netns, opts: KeepalivedOptions): Promise<Keepalived> {
  const dir = join(ns.workDir, 'keepalived');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const check = join(dir, 'check-kickstand.sh');
  await writeFile(check, `#!/bin/sh\nexec curl -fsS -m 2 -o /dev/null ${opts.healthUrl}\n`);
  await chmod(check, 0o755);
  const conf = join(dir, 'keepalived.conf');
  await writeFile(
    conf,
    `global_defs {
  router_id ${opts.routerId}
  script_user root
  enable_script_security
  vrrp_garp_master_delay 0
  vrrp_garp_master_repeat 3
}
vrrp_script kickstand {
  script "${check}"
  interval 1
  timeout 3
  fall 2
  rise 1
}
vrrp_instance boot {
  state BACKUP
  interface ${ns.bridge}
  virtual_router_id ${opts.virtualRouterId}
  priority ${opts.priority}
  advert_int 1
  nopreempt
  virtual_ipaddress {
    ${opts.vip}/${opts.prefixLength} dev ${ns.bridge}
  }
  track_script {
    kickstand
  }
}
`,
  );
  const child: ChildProcess = ns.spawn('keepalived', ['-n', '-l', '-D', '-P', '-f', conf, '-p', join(dir, 'keepalived.pid'), '-r', join(dir, 'vrrp.pid')]);
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await survives(child, 500, `keepalived in ${ns.name}`).catch((err: Error) => {
    throw new Error(`${err.message}: ${log}`);
  });
  const holds = async () => (await bridgeAddresses(ns)).includes(opts.vip);
  return {
    holds,
    async waitHolds(ms) {
      for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) if (await holds()) return true;
      return holds();
    },
    log: () => log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
    },
  };
}
