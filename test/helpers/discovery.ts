/**
 * Discovery over HTTP with a real curl as the machine, bound to 127.0.0.1 or 127.0.0.2 (a second
 * address on the loopback): the service, reports as the agent makes them, discovery boots.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Test } from 'tap';
import type { StoreFactory } from '../../server/store/store.js';
import { minimalProfile } from './fixtures.js';
import { startTestService } from './service.js';

const run = promisify(execFile);
export const BOOT = '52:54:00:d1:5c:01';
export const SECOND = '52:54:00:d1:5c:02';
export const DISK = '/dev/disk/by-path/pci-0000:00:04.0';

/** A report as the agent makes it for a box with one 20 GiB disk at DISK and NICs on sw-a3 Ethernet1/1, 1/2… */
export function report(patch: Record<string, unknown> = {}, macs = [BOOT, SECOND]) {
  return {
    system: { manufacturer: 'QEMU', product: 'Standard PC (Q35 + ICH9, 2009)', serial: 'KS-0001', uuid: '5f1c2d3e-0000-4000-8000-00000000d15c' },
    firmware: { mode: 'bios' },
    cpu: { model: 'QEMU Virtual CPU', count: 2, architecture: 'x86_64' },
    memory: { totalMiB: 2048 },
    disks: [{ name: 'vda', sizeBytes: 20 * 2 ** 30, rotational: false, serial: 'KS-DISK-1', byId: ['/dev/disk/by-id/virtio-KS-DISK-1'], byPath: DISK }],
    interfaces: macs.map((mac, i) => ({ name: `eth${i}`, mac, speedMbps: 1000, carrier: true, lldp: { systemName: 'sw-a3', portId: `Ethernet1/${i + 1}` } })),
    vendorExtra: { kept: true },
    ...patch,
  };
}

/** A service with unknownMachines: discover and profile p1; `curl` and `boot` act as the machine. */
export async function discoverySetup(t: Test, config: Record<string, unknown> = {}, clock?: { now(): number }, store?: StoreFactory) {
  const env = await startTestService(t, { config: { unknownMachines: 'discover', ...config }, service: { ...(clock ? { clock } : {}), ...(store ? { store } : {}) } });
  t.equal((await env.api('POST', '/api/v1/profiles', minimalProfile())).status, 201);
  const dir = mkdtempSync(join(tmpdir(), 'ks-disc-'));
  t.teardown(() => run('rm', ['-rf', dir]));
  /** curl from a source address: status and body. */
  const curl = async (from: string, path: string, opts: { json?: unknown; raw?: string } = {}) => {
    const args = ['-sS', '--interface', from, '-o', '-', '-w', '\n%{http_code}'];
    if (opts.json !== undefined || opts.raw !== undefined) {
      const file = join(dir, 'body');
      writeFileSync(file, opts.raw ?? JSON.stringify(opts.json));
      args.push('-H', 'Content-Type: application/json', '--data-binary', `@${file}`);
    }
    const { stdout } = await run('curl', [...args, `${env.base}/boot${path}`], { maxBuffer: 8 << 20 });
    const i = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) };
  };
  /** A discovery boot of `mac` from `from`: its token. */
  const boot = async (mac = BOOT, from = '127.0.0.1') => {
    const script = await curl(from, `/ipxe?mac=${mac}`);
    t.match(script.body, /^# discover /m, 'an unknown MAC gets the discovery script');
    return /token=([A-Za-z0-9_-]+)/.exec(script.body)![1];
  };
  /** A discovery boot and its report: the answer's JSON. */
  const discover = async (body: unknown, mac = BOOT) => {
    const res = await curl('127.0.0.1', `/inventory?token=${await boot(mac)}`, { json: body });
    t.equal(res.status, 200, res.body);
    return JSON.parse(res.body) as { id: string; state: string; machine?: string; action: string };
  };
  return { ...env, curl, boot, discover };
}
