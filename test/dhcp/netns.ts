import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BootEvent } from '../../server/model/events.js';

/**
 * Network namespaces for DHCP tests: unique names per process, everything removed in
 * cleanup(). All addresses used live inside these namespaces.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function sh(cmd: string): string {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
}

export class Lab {
  private readonly namespaces: string[] = [];
  private readonly procs: ChildProcess[] = [];
  private readonly dirs: string[] = [];
  constructor(private readonly tag: string) {}

  /** A scratch directory for the peers' files, removed in cleanup(). */
  scratch(): string {
    const dir = mkdtempSync(join(tmpdir(), `ks-${this.tag}-`));
    this.dirs.push(dir);
    return dir;
  }

  /** A new namespace named ks<tag><pid><suffix>, loopback up. */
  ns(suffix: string): string {
    const name = `ks${this.tag}${process.pid}${suffix}`;
    sh(`ip netns add ${name} && ip -n ${name} link set lo up`);
    this.namespaces.push(name);
    return name;
  }

  /** veth pair between two namespaces, both ends up. */
  link(nsA: string, ifA: string, nsB: string, ifB: string): void {
    sh(`ip -n ${nsA} link add ${ifA} type veth peer name ${ifB} netns ${nsB} && ip -n ${nsA} link set ${ifA} up && ip -n ${nsB} link set ${ifB} up`);
  }

  /**
   * One segment: a bridge br0 in namespace `br`, each member namespace plugged in through a veth
   * named `lan` on its side. Returns `br`.
   */
  bridge(br: string, members: string[]): string {
    sh(`ip -n ${br} link add br0 type bridge && ip -n ${br} link set br0 up`);
    members.forEach((ns, i) => {
      this.link(ns, 'lan', br, `p${i}`);
      sh(`ip -n ${br} link set p${i} master br0`);
    });
    return br;
  }

  run(ns: string, args: string[], timeoutMs = 20_000): Promise<RunResult> {
    return new Promise((resolve) => {
      const p = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
      p.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Long-running process in a namespace, killed in cleanup. */
  background(ns: string, args: string[]): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(p);
    return p;
  }

  async dhcpServer(ns: string, spec: object): Promise<ServerHarness> {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', 'test/dhcp/serve.ts', JSON.stringify(spec)], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.procs.push(p);
    const h = new ServerHarness(p);
    await h.ready;
    return h;
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGKILL');
    for (const ns of this.namespaces) spawnSync('ip', ['netns', 'del', ns]);
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

export class ServerHarness {
  readonly events: Array<BootEvent & { at: number }> = [];
  readonly ready: Promise<{ serverAddress: string }>;
  stderr = '';
  private waiters: Array<(o: Record<string, unknown>) => boolean> = [];

  constructor(readonly proc: ChildProcess) {
    let buf = '';
    this.ready = new Promise((resolve, reject) => {
      proc.on('exit', (code) => reject(new Error(`dhcp server exited ${code}: ${this.stderr}`)));
      this.waiters.push((o) => (o.ready ? (resolve(o as { serverAddress: string }), true) : false));
    });
    proc.stderr!.on('data', (d) => (this.stderr += d));
    proc.stdout!.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const o = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        if (o.event) this.events.push({ ...(o.event as BootEvent), at: o.at as number });
        this.waiters = this.waiters.filter((w) => !w(o));
      }
    });
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private ask<T>(line: string, key: string): Promise<T> {
    return new Promise((resolve) => {
      this.waiters.push((o) => (key in o ? (resolve(o[key] as T), true) : false));
      this.proc.stdin!.write(line + '\n');
    });
  }

  stats(): Promise<{ received: number; replies: Record<string, number>; dropped: Record<string, number> }> {
    return this.ask('stats', 'stats');
  }

  metrics(): Promise<string> {
    return this.ask('metrics', 'metrics');
  }

  /** Directory lookups the server made, and the most it had under way at once. */
  lookups(): Promise<{ made: number; mostAtOnce: number }> {
    return this.ask('lookups', 'lookups');
  }

  roles(): Promise<{ answering: string[]; standby: string[] } | null> {
    return this.ask('roles', 'roles');
  }

  ipToMac(ip: string): Promise<string | null> {
    return this.ask(`mac ${ip}`, 'mac');
  }

  /** The address this server learned the MAC uses in DHCP: where its install token may go. */
  dhcpAddressOf(mac: string): Promise<string | null> {
    return this.ask(`ip ${mac}`, 'ip');
  }
}
