/**
 * The fake Redfish BMC (fake-bmc/serve.ts) as a process inside a test namespace, driving a VM
 * through its QMP socket. kickstand runs in the namespace, so the BMC must listen there (on the
 * namespace's loopback): the host's loopback is another network. The QMP socket is a file, which
 * both sides reach. What the BMC was asked to do comes back when it stops (serve.ts prints it).
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { FakeEvent } from '../fake-bmc/redfish.js';
import { JsonLines } from './json-lines.js';
import type { Netns } from './netns.js';

const SERVE = fileURLToPath(new URL('../fake-bmc/serve.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface NsFakeBmcRecord {
  boots: Extract<FakeEvent, { kind: 'boot' }>[];
  log: FakeEvent[];
}

export interface NsFakeBmc {
  /** https://127.0.0.1:PORT, reachable from inside the namespace only. */
  url: string;
  fingerprint: string;
  username: string;
  password: string;
  /** The machine's `bmc` section for kickstand's inventory. */
  bmc: Record<string, unknown>;
  /** Stops the BMC and returns everything it recorded (boot overrides, resets, boots). */
  stop(): Promise<NsFakeBmcRecord>;
}

export async function startNsFakeBmc(ns: Netns, opts: { qmpSocket: string; certDir: string }): Promise<NsFakeBmc> {
  const username = 'admin';
  const password = randomBytes(12).toString('hex');
  const child = ns.spawn(
    process.execPath,
    ['--import', 'tsx', SERVE, '--qmp', opts.qmpSocket, '--host', '127.0.0.1', '--user', username, '--password', password, '--cert-dir', opts.certDir],
    { cwd: REPO_ROOT },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const lines = new JsonLines(child.stdout!);
  const started = await lines.waitFor((l) => typeof l.url === 'string', 30_000, 'fake BMC start line').catch((err: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${err.message}\n${stderr}`);
  });
  const url = String(started.url);
  const fingerprint = String(started.fingerprint);
  let record: Promise<NsFakeBmcRecord> | undefined;
  return {
    url,
    fingerprint,
    username,
    password,
    bmc: { driver: 'redfish', address: url, username, password, tls: { fingerprint }, timeoutSeconds: 20 },
    stop() {
      record ??= (async () => {
        child.kill('SIGTERM');
        const last = await lines.waitFor((l) => Array.isArray(l.log), 10_000, 'fake BMC record line');
        return last as unknown as NsFakeBmcRecord;
      })();
      return record;
    },
  };
}
