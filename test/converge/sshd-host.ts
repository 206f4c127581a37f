/**
 * A real OpenSSH server on loopback standing in for a freshly installed host: its own host key, a
 * non-root user with passwordless sudo, and shims for dnf, rpm, systemctl and podman that record
 * each call and keep their state in files. `systemctl reboot` restarts this sshd, so a reboot is
 * seen as the host dropping the connection and answering again.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadOrCreateKeyPair } from '../../server/converge/keys.js';
import { hostShims } from './shims.js';

export interface SshdHost {
  dir: string;
  port: number;
  user: string;
  /** the host's public key line, as the installer would report it */
  hostKey: string;
  /** state kept by the shims: pkgs/<name>, units/<unit>.{unit,enabled,active,restarts}, containers/<name> */
  state: string;
  /** lines "<user> <sudo|direct> <tool> <args…>", one per shim call */
  calls(): string[];
  /** pid of the listening sshd (changes when the shim "reboots" the host) */
  pid(): Promise<number>;
  authorize(user: string, publicKey: string): void;
  /** stops sshd, as a host that is down */
  stop(): Promise<void>;
  /** starts sshd again, as a host coming up */
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export async function startSshdHost(): Promise<SshdHost> {
  const dir = mkdtempSync(join(tmpdir(), 'kscv-'));
  chmodSync(dir, 0o755);
  const user = `kscv${process.pid}`;
  const port = await freePort();
  const state = join(dir, 'state');
  const shimDir = join(dir, 'shims');
  const conf = join(dir, 'sshd_config');
  for (const d of ['pkgs', 'units', 'containers']) mkdirSync(join(state, d), { recursive: true });
  mkdirSync(shimDir);
  mkdirSync(join(dir, 'authorized_keys'));
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  writeFileSync(join(state, 'calls.log'), '');
  // Like a real reboot: every session dies at once, then sshd comes back a little later. The
  // listener is frozen first: killed with SIGTERM after its sessions, it could still accept the
  // converger's first reconnect and serve it from a fork, as if the host had never gone down.
  const reboot = `setsid bash -c '
    sleep 0.3
    tree() { [ "$1" = $$ ] && return; for c in $(pgrep -P "$1"); do tree "$c"; done; echo "$1"; }
    L=$(cat ${dir}/sshd.pid); kill -STOP "$L"; kill -KILL $(tree "$L") 2>/dev/null
    while kill -0 "$L" 2>/dev/null; do sleep 0.1; done
    rm -f ${dir}/sshd.pid
    sleep 1.5
    /usr/sbin/sshd -f ${conf} -E ${dir}/sshd.log' </dev/null >/dev/null 2>&1 &`;
  for (const [name, text] of Object.entries(hostShims(state, reboot))) writeFileSync(join(shimDir, name), text, { mode: 0o755 });

  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'host', '-f', join(dir, 'ssh_host_ed25519_key')]);
  const hostKey = readFileSync(join(dir, 'ssh_host_ed25519_key.pub'), 'utf8').trim();

  // '*' rather than the locked '!' useradd leaves: sshd refuses locked accounts even for keys.
  spawnSync('userdel', ['-r', '-f', user], { stdio: 'ignore' });
  execFileSync('useradd', ['-m', '-s', '/bin/bash', '-p', '*', user]);
  const sudoers = `/etc/sudoers.d/${user}`;
  // sudo resets PATH to secure_path: that is where the shims have to be for root's commands.
  writeFileSync(sudoers, `${user} ALL=(ALL) NOPASSWD: ALL\nDefaults:${user} secure_path="${shimDir}:/usr/sbin:/usr/bin:/sbin:/bin"\n`, { mode: 0o440 });
  execFileSync('visudo', ['-cqf', sudoers]);

  writeFileSync(
    conf,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${dir}/ssh_host_ed25519_key`,
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${dir}/authorized_keys/%u`,
      'StrictModes no',
      'UsePAM no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      `AllowUsers root ${user}`,
      // root logs in without sudo, so its shims come from the session PATH.
      `SetEnv PATH=${shimDir}:/usr/sbin:/usr/bin:/sbin:/bin`,
      'Subsystem sftp internal-sftp',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  execFileSync('/usr/sbin/sshd', ['-t', '-f', conf]);
  const pidFile = join(dir, 'sshd.pid');
  const pid = () => Number(readFileSync(pidFile, 'utf8').trim());
  // sshd listens before it writes its pid file: a client may be served before the file exists.
  const settledPid = async () => {
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await sleep(50);
    return pid();
  };
  const start = async () => {
    rmSync(pidFile, { force: true });
    execFileSync('/usr/sbin/sshd', ['-f', conf, '-E', join(dir, 'sshd.log')]);
    for (let i = 0; i < 50 && !existsSync(pidFile); i++) await sleep(50);
  };
  const stop = async () => {
    const p = await settledPid();
    process.kill(p, 'SIGTERM');
    for (let i = 0; i < 50 && isAlive(p); i++) await sleep(50);
  };
  await start();

  return {
    dir,
    port,
    user,
    hostKey,
    state,
    calls: () => readFileSync(join(state, 'calls.log'), 'utf8').split('\n').filter(Boolean),
    pid: settledPid,
    stop,
    start,
    authorize: (u, key) => writeFileSync(join(dir, 'authorized_keys', u), `${key}\n`, { flag: 'a' }),
    close: async () => {
      try {
        process.kill(await settledPid(), 'SIGTERM');
      } catch {
        // already gone
      }
      rmSync(sudoers, { force: true });
      spawnSync('userdel', ['-r', '-f', user], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A host and kickstand's key pair (in a throwaway data dir) that the host's user accepts; both
 * are removed in the test's teardown.
 */
export async function hostWithKickstandKey(t: { teardown(fn: () => unknown): void }) {
  const host = await startSshdHost();
  t.teardown(() => host.close());
  const dataDir = mkdtempSync(join(tmpdir(), 'kscv-data-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const keys = await loadOrCreateKeyPair(dataDir);
  host.authorize(host.user, keys.publicKey);
  return { host, keys };
}
