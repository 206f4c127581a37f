/**
 * One kickstand instance for the storm and DHCP benchmarks, the whole service as `kickstand serve`
 * builds it (startService), run inside the server namespace:
 *   ip netns exec NS node --import tsx bench/storm/serve.ts '<json spec>'
 * spec.config is kickstand's own config (store, DHCP, TFTP, HTTP). With spec.machines = N, N
 * machines (stormName/stormMac, a UEFI profile with no converge steps, the manual power driver)
 * are written as inventory YAML, applied at start, and each is put into a reinstall, as
 * `kickstand reinstall` would; the storm then finds them waiting for their power-on.
 * spec.previewDir gets machine 0's iPXE script and kickstart as the API previews them (the
 * baseline's static files). stdout: one JSON line {ready, pid, kickstartUrl?} once it serves. On SIGTERM it
 * writes {states, eventsDropped, loop (event-loop delay p99 and max), mem (process.memoryUsage() in MB
 * at the sampled peak of rss)} to spec.reportFile after background work settled, then stops.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Config, type ConfigInput } from '../../server/config/schema.js';
import { createLogger } from '../../server/log.js';
import { startService } from '../../server/main.js';
import { stormMac, stormName } from './macs.js';

interface Spec {
  config: ConfigInput;
  machines?: number;
  previewDir?: string;
  reportFile?: string;
  /** Print machine 0's kickstart URL (with its token) in the ready line. */
  kickstartUrl?: boolean;
}

const spec = JSON.parse(process.argv[2]) as Spec;
const repo = resolve(import.meta.dirname, '../..');
const n = spec.machines ?? 0;

const PROFILE = `kind: profile
name: storm-uefi
os: rocky-9
firmware: uefi
disks:
  - { name: sys0, path: /dev/disk/by-path/pci-0000:00:04.0, sizeGiB: 20 }
storage:
  layout: single
  disks: [sys0]
  volumes:
    - { name: root, mount: /, fstype: xfs, sizeGiB: 8, grow: true }
network:
  interfaces:
    - { role: data0, ipv4: dhcp }
timezone: UTC
packages: [chrony]
converge: []
`;
const inventory = spec.config.inventory!;
if (n > 0) {
  mkdirSync(inventory, { recursive: true });
  const machines = Array.from({ length: n }, (_, i) => `kind: machine\nname: ${stormName(i)}\nprofile: storm-uefi\nmacs: ["${stormMac(i)}"]\nbmc: { driver: manual }\n`);
  writeFileSync(join(inventory, 'storm.yaml'), [PROFILE, ...machines].join('---\n'));
}

const config = Config.parse({ templatesDir: join(repo, 'templates'), ignitionDir: join(repo, 'ignition'), log: { level: 'warn' }, ...spec.config });
const svc = await startService(config, createLogger({ level: 'warn' }));

if (n > 0) {
  // Reinstalls as an operator script would send them: a few at a time.
  for (let i = 0; i < n; i += 16) await Promise.all(Array.from({ length: Math.min(16, n - i) }, (_, k) => svc.lifecycle.reinstall(stormName(i + k))));
  await svc.lifecycle.idle();
}
if (spec.previewDir) {
  mkdirSync(join(spec.previewDir, 'boot'), { recursive: true });
  for (const kind of ['ipxe', 'kickstart']) {
    const res = await fetch(`${config.http.publicUrl}/api/v1/machines/${stormName(0)}/render/${kind}`, { headers: { authorization: `Bearer ${svc.apiToken}` } });
    if (res.status !== 200) throw new Error(`render ${kind}: HTTP ${res.status}`);
    writeFileSync(join(spec.previewDir, 'boot', kind), await res.text());
  }
}
// How long the event loop was held up while serving: a synchronous store write blocks it.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
// The kickstart URL of machine 0 with its install token, fetched once from here (which binds the
// install to this address, as the installer's first fetch does): what a render benchmark hammers.
let kickstartUrl: string | undefined;
if (spec.kickstartUrl) {
  const token = (await svc.installs.installToken(stormName(0)))!.token;
  kickstartUrl = `${config.http.publicUrl}/boot/kickstart?token=${token}`;
  const res = await fetch(kickstartUrl);
  if (res.status !== 200) throw new Error(`kickstart: HTTP ${res.status} ${await res.text()}`);
  await svc.lifecycle.idle();
}
// What resident memory is made of at its peak (sampled): the V8 heap, or buffers outside it.
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
let memPeak = process.memoryUsage();
const memSampler = setInterval(() => {
  const m = process.memoryUsage();
  if (m.rss > memPeak.rss) memPeak = m;
}, 250);
console.log(JSON.stringify({ ready: true, pid: process.pid, kickstartUrl }));

process.once('SIGTERM', async () => {
  await svc.lifecycle.idle();
  const states: Record<string, number> = {};
  for (const s of await svc.reads.statuses()) states[s.state] = (states[s.state] ?? 0) + 1;
  const loop = { p99Ms: Math.round(loopDelay.percentile(99) / 1e6), maxMs: Math.round(loopDelay.max / 1e6) };
  clearInterval(memSampler);
  const mem = { rss: mb(memPeak.rss), heapTotal: mb(memPeak.heapTotal), heapUsed: mb(memPeak.heapUsed), external: mb(memPeak.external), arrayBuffers: mb(memPeak.arrayBuffers) };
  if (spec.reportFile) writeFileSync(spec.reportFile, JSON.stringify({ states, eventsDropped: svc.events.dropped, loop, mem }) + '\n');
  await svc.close();
  process.exit(0);
});
