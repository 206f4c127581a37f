import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The discovery agent run as the installer runs it: a shell, a PATH that holds exactly the tools
 * the test allows (symlinks in a temp dir, so a tool the script uses without saying so fails the
 * test), and only the environment the test sets.
 */

export const AGENT = join(dirname(fileURLToPath(import.meta.url)), '../../templates/discovery/agent.sh');

/** Absolute path of a tool on this machine, or throw. */
export function which(tool: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  const p = r.stdout.trim();
  if (r.status !== 0 || !p.startsWith('/')) throw new Error(`${tool} is not installed (test/peers.sh installs the peers)`);
  return p;
}

export function sh(cmd: string): string {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
}

/** What the script runs besides its hardware tools (plus `touch` for the tests' reboot commands). */
const USERLAND = ['sh', 'awk', 'mkdir', 'mktemp', 'rm', 'cat', 'uname', 'readlink', 'date', 'sleep', 'ip', 'touch', 'od'];
export const HARDWARE = ['dmidecode', 'lsblk', 'ipmitool', 'lldptool', 'lldpad', 'lldpctl', 'curl'];

/**
 * A PATH directory: the userland from busybox applets (the e2e stand-in) or from this machine
 * (coreutils, mawk, iproute2: close to the Rocky installer), and the given hardware tools from
 * this machine. modprobe is never in it: a test must not load kernel modules on the test host.
 */
export function toolbox(userland: 'busybox' | 'host', hardware: string[]): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ks-agent-tools-'));
  chmodSync(dir, 0o755);
  const busybox = which('busybox');
  for (const t of USERLAND) symlinkSync(userland === 'busybox' ? busybox : which(t), join(dir, t));
  for (const t of hardware) symlinkSync(which(t), join(dir, t));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface AgentRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface AgentOptions {
  shell: 'bash' | 'busybox';
  path: string;
  args: string[];
  env?: Record<string, string>;
  /** Run inside this network namespace, in an IPC namespace of its own (lldpad keeps its state in SysV shared memory). */
  netns?: string;
  timeoutMs?: number;
}

/** Runs the agent without blocking the event loop (the tests' HTTP server lives in this process). */
export function runAgent(o: AgentOptions): Promise<AgentRun> {
  const shell = o.shell === 'bash' ? [which('bash')] : [which('busybox'), 'sh'];
  const argv = [...shell, AGENT, ...o.args];
  const cmd = o.netns ? [which('ip'), 'netns', 'exec', o.netns, which('unshare'), '--ipc', ...argv] : argv;
  const started = Date.now();
  return new Promise((resolve) => {
    const p = spawn(cmd[0], cmd.slice(1), { env: { PATH: o.path, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 30_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/**
 * Network namespaces named ksag<pid><suffix>; cleanup() kills every process left in them
 * (lldpd, the lldpad the agent started) by pid, then deletes them.
 */
export class Netns {
  private readonly names: string[] = [];

  add(suffix: string): string {
    const name = `ksag${process.pid}${suffix}`;
    sh(`ip netns add ${name} && ip -n ${name} link set lo up`);
    this.names.push(name);
    return name;
  }

  /** A veth pair; the ends are left down unless up says otherwise. */
  veth(nsA: string, ifA: string, nsB: string, ifB: string, up: { a: boolean; b: boolean }): void {
    sh(`ip -n ${nsA} link add ${ifA} type veth peer name ${ifB} netns ${nsB}`);
    if (up.a) sh(`ip -n ${nsA} link set ${ifA} up`);
    if (up.b) sh(`ip -n ${nsB} link set ${ifB} up`);
  }

  mac(ns: string, ifname: string): string {
    return sh(`ip netns exec ${ns} cat /sys/class/net/${ifname}/address`).trim();
  }

  pids(ns: string): number[] {
    const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
    return r.stdout.split(/\s+/).filter(Boolean).map(Number);
  }

  async cleanup(): Promise<void> {
    const kill = (sig: NodeJS.Signals) => {
      for (const ns of this.names) for (const pid of this.pids(ns)) try { process.kill(pid, sig); } catch { /* gone */ }
    };
    kill('SIGTERM');
    for (let i = 0; i < 20 && this.names.some((ns) => this.pids(ns).length > 0); i++) await new Promise((r) => setTimeout(r, 100));
    kill('SIGKILL');
    for (const ns of this.names) spawnSync('ip', ['netns', 'del', ns]);
  }
}

/** A temp dir others may traverse (lldpcli drops privileges before it opens lldpd's socket). */
export function openTempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
