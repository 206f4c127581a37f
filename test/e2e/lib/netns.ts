/**
 * A network namespace holding a bridge (the "rack network") with one tap per VM and the server
 * address on the bridge. Everything a test starts inside it (servers, QEMU) is spawned through
 * `spawn`, which ties the child to this process (PR_SET_PDEATHSIG), so nothing outlives a killed
 * test; the namespace itself is deleted on teardown, at process exit, or by the next run's sweep
 * of namespaces whose creating process is gone.
 */
import { spawn as spawnChild, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atExit } from './cleanup.js';
import { run, survives } from './run.js';

const PREFIX = 'kse2e-';
let counter = 0;

export interface NetnsOptions {
  /** Number of taps on the bridge (tap0, tap1, …), one per VM. */
  taps: number;
  /** Server address with prefix, on the bridge; default 10.77.0.1/24 (each namespace is isolated). */
  serverCidr?: string;
  /**
   * Send IPv6 router advertisements on the bridge (a dnsmasq in RA-only mode: no DHCP, no TFTP,
   * no DNS). Without them iPXE waits ~10 s for IPv6 autoconfiguration before it boots.
   */
  routerAdvertisements?: boolean;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Deletes namespaces (and scratch directories) left by test processes that died without cleaning
 * up (SIGKILL), with what still runs inside them: a daemon that changes its credentials loses
 * PR_SET_PDEATHSIG.
 */
function sweepStale(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of list.split('\n')) {
    const m = new RegExp(`^(${PREFIX}(\\d+)-\\d+)`).exec(line);
    if (!m || pidAlive(Number(m[2]))) continue;
    const pids = spawnSync('ip', ['netns', 'pids', m[1]], { encoding: 'utf8' }).stdout ?? '';
    for (const pid of pids.split('\n').filter(Boolean)) spawnSync('kill', ['-KILL', pid]);
    spawnSync('ip', ['netns', 'del', m[1]]);
  }
  for (const entry of readdirSync(tmpdir())) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(entry);
    if (m && !pidAlive(Number(m[1]))) rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

/** A scratch directory that the sweep removes if this process dies without cleaning up. */
export function scratchDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `${PREFIX}${process.pid}-${label}-`));
}

export class Netns {
  readonly bridge = 'br0';
  readonly serverAddress: string;
  readonly prefixLength: number;
  readonly taps: string[];
  private readonly children = new Set<ChildProcess>();
  private unregister: () => void = () => {};

  private constructor(
    readonly name: string,
    readonly workDir: string,
    opts: NetnsOptions,
  ) {
    const [address, prefix] = (opts.serverCidr ?? '10.77.0.1/24').split('/');
    this.serverAddress = address;
    this.prefixLength = Number(prefix);
    this.taps = Array.from({ length: opts.taps }, (_, i) => `tap${i}`);
  }

  static async create(opts: NetnsOptions): Promise<Netns> {
    sweepStale();
    const name = `${PREFIX}${process.pid}-${counter++}`;
    const ns = new Netns(name, await mkdtemp(join(tmpdir(), `${name}-`)), opts);
    ns.unregister = atExit(() => ns.destroySync());
    try {
      await run('ip', ['netns', 'add', name]);
      const ip = (...args: string[]) => run('ip', ['-n', name, ...args]);
      await ip('link', 'set', 'lo', 'up');
      await ip('link', 'add', ns.bridge, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
      await ip('addr', 'add', `${ns.serverAddress}/${ns.prefixLength}`, 'dev', ns.bridge);
      await ip('addr', 'add', 'fd77::1/64', 'dev', ns.bridge, 'nodad');
      for (const tap of ns.taps) {
        await ip('tuntap', 'add', 'dev', tap, 'mode', 'tap');
        await ip('link', 'set', tap, 'master', ns.bridge);
        await ip('link', 'set', tap, 'up');
      }
      await ip('link', 'set', ns.bridge, 'up');
      if (opts.routerAdvertisements) await ns.startRouterAdvertisements();
      return ns;
    } catch (err) {
      await ns.destroy();
      throw err;
    }
  }

  /** Starts `cmd` inside the namespace; it is killed when the test process dies. */
  spawn(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    const child = spawnChild('ip', ['netns', 'exec', this.name, 'setpriv', '--pdeathsig', 'KILL', '--', cmd, ...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs a command inside the namespace to completion. */
  exec(cmd: string, args: string[]): Promise<string> {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args]);
  }

  private async startRouterAdvertisements(): Promise<void> {
    const conf = join(this.workDir, 'ra.conf');
    await writeFile(
      conf,
      [
        'port=0',
        `interface=${this.bridge}`,
        'bind-interfaces',
        'enable-ra',
        `dhcp-range=::,constructor:${this.bridge},ra-only`,
        `ra-param=${this.bridge},10,0`,
        `pid-file=${join(this.workDir, 'ra.pid')}`,
        // stay root: a credential change would drop the PR_SET_PDEATHSIG that ties it to the test
        'user=root',
        'group=root',
        '',
      ].join('\n'),
    );
    const child = this.spawn('dnsmasq', ['-k', `--conf-file=${conf}`, '--log-facility=-']);
    await survives(child, 300, 'dnsmasq (router advertisements)');
  }

  private destroySync(): void {
    for (const child of this.children) child.kill('SIGKILL');
    spawnSync('ip', ['netns', 'del', this.name]);
    rmSync(this.workDir, { recursive: true, force: true });
  }

  async destroy(): Promise<void> {
    const exits = [...this.children].map((c) => new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(null) : c.once('exit', resolve))));
    for (const child of this.children) child.kill('SIGTERM');
    const killer = setTimeout(() => this.children.forEach((c) => c.kill('SIGKILL')), 3000);
    await Promise.all(exits);
    clearTimeout(killer);
    await run('ip', ['netns', 'del', this.name]).catch(() => undefined);
    await rm(this.workDir, { recursive: true, force: true });
    this.unregister();
  }
}
