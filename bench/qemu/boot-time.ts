/**
 * QEMU time from VM start to the installer stand-in's first callback (`start`, sent by the
 * kickstart's %pre), with the same VM, kernel and initramfs booted by each server set:
 *   dnsmasq    dnsmasq (DHCP + TFTP) and a node HTTP server serving a static iPXE script and the
 *              same kind of kickstart (the reference, like shared/reference/pxe-e2e-dnsmasq.sh)
 *   kickstand  `kickstand serve` alone (DHCP authoritative, TFTP, HTTP), machine in reinstall
 * One VM at a time on a fresh namespace per run, server sets interleaved; medians per firmware.
 * Times are taken from the servers' own clocks at the callback (same host, same wall clock).
 *
 *   npx tsx bench/qemu/boot-time.ts [--runs 5] [--firmware bios,uefi] [--servers dnsmasq,kickstand]
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StoredEvent } from '../../server/model/events.js';
import { startDnsmasq } from '../../test/e2e/lib/dnsmasq.js';
import { guestImage } from '../../test/e2e/lib/guest-image.js';
import { callbackKickstart } from '../../test/e2e/lib/kickstarts.js';
import { startKickstand } from '../../test/e2e/lib/kickstand.js';
import { Netns, scratchDir } from '../../test/e2e/lib/netns.js';
import { median } from '../../test/e2e/lib/stats.js';
import { startStubBootServer } from '../../test/e2e/lib/stub-boot-server.js';
import { Vm, type Firmware } from '../../test/e2e/lib/vm.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    firmware: { type: 'string', default: 'bios,uefi' },
    servers: { type: 'string', default: 'dnsmasq,kickstand' },
  },
});
const runs = Number(values.runs);
const firmwares = values.firmware.split(',') as Firmware[];
const servers = values.servers.split(',');
const MAC = '52:54:00:77:01:10';

const work = await scratchDir('bench');
const guest = await guestImage({ workDir: join(work, 'guest') });
const assets = join(work, 'assets');
await mkdir(assets);
await copyFile(guest.kernel, join(assets, 'vmlinuz'));
await copyFile(guest.initrd, join(assets, 'initrd.gz'));

/**
 * Seconds from QEMU's start to the iPXE script request (firmware + DHCP: where the servers differ
 * most) and to the `start` callback (adds kernel + initrd download, kernel boot, kickstart fetch).
 */
interface Timing {
  script: number;
  start: number;
}

/** Seconds from QEMU's start to a server-side timestamp (epoch ms). */
function since(vm: Vm, at: number): number {
  return (at - (performance.timeOrigin + vm.startedAt)) / 1000;
}

async function bootDnsmasq(firmware: Firmware, dir: string): Promise<Timing> {
  const ns = await Netns.create({ taps: 1, routerAdvertisements: true });
  try {
    const token = randomBytes(12).toString('hex');
    const kickstart = callbackKickstart(`http://${ns.serverAddress}:8080`, token);
    const server = await startStubBootServer(ns, { port: 8080, assetsDir: assets, machines: [{ mac: MAC, token, kickstart }] });
    await startDnsmasq(ns, { tftpRoot: '/usr/lib/ipxe', ipxeScriptUrl: `${server.url}/boot/ipxe?mac=\${net0/mac}`, range: ['10.77.0.50', '10.77.0.150'] });
    const vm = await Vm.start({ ns, tap: 'tap0', mac: MAC, firmware, workDir: dir, memoryMb: 384 });
    try {
      const e = await server.events.waitFor((e) => e.type === 'callback' && e.event === 'start', 300_000, 'start callback');
      const script = server.events.items.find((x) => x.type === 'http' && x.path === '/boot/ipxe');
      return { script: since(vm, script?.type === 'http' ? script.at : NaN), start: since(vm, e.type === 'callback' ? e.at : NaN) };
    } finally {
      await vm.stop();
    }
  } finally {
    await ns.destroy();
  }
}

async function bootKickstand(firmware: Firmware, dir: string): Promise<Timing> {
  const ns = await Netns.create({ taps: 1, routerAdvertisements: true });
  try {
    const ks = await startKickstand(ns, { guest, machines: [{ name: 'bench', mac: MAC, firmware }] });
    const r = await ks.api('POST', '/api/v1/machines/bench/reinstall', { token: ks.token });
    if (r.status !== 202) throw new Error(`reinstall: HTTP ${r.status} ${r.text}`);
    const vm = await Vm.start({ ns, tap: 'tap0', mac: MAC, firmware, workDir: dir, memoryMb: 384 });
    try {
      const until = Date.now() + 300_000;
      while (Date.now() < until) {
        const p = await ks.api('GET', '/api/v1/machines/bench/progress?events=1000', { token: ks.token });
        const events = (p.json?.events ?? []) as StoredEvent[];
        const started = events.find((e) => e.kind === 'callback' && e.data?.event === 'start');
        const script = events.find((e) => e.kind === 'ipxe-script');
        if (started) return { script: since(vm, script?.at ?? NaN), start: since(vm, started.at) };
        await sleep(500);
      }
      throw new Error('no start callback within 300 s');
    } finally {
      await vm.stop();
    }
  } finally {
    await ns.destroy();
  }
}

const BOOTERS: Record<string, (firmware: Firmware, dir: string) => Promise<Timing>> = { dnsmasq: bootDnsmasq, kickstand: bootKickstand };

const results: Record<string, Record<string, Timing[]>> = {};
try {
  for (let i = 0; i < runs; i++) {
    for (const firmware of firmwares) {
      // interleaved, so load from elsewhere on the machine hits both server sets alike
      for (const server of servers) {
        const boot = BOOTERS[server];
        if (!boot) throw new Error(`unknown server set ${server}`);
        const dir = join(work, `${server}-${firmware}-${i}`);
        await mkdir(dir);
        const s = await boot(firmware, dir);
        ((results[firmware] ??= {})[server] ??= []).push(s);
        console.log(`run ${i + 1}/${runs} ${firmware} ${server}: script ${s.script.toFixed(2)} s, start ${s.start.toFixed(2)} s`);
      }
    }
  }
} finally {
  await rm(work, { recursive: true, force: true });
}

const fmt = (list: number[]) => `${list.map((x) => x.toFixed(1)).join(' ')} | ${median(list).toFixed(2)}`;
console.log('\nfirmware | server | to iPXE script: runs (s) | median | to start callback: runs (s) | median');
for (const [firmware, byServer] of Object.entries(results)) {
  for (const [server, list] of Object.entries(byServer))
    console.log(`${firmware} | ${server} | ${fmt(list.map((x) => x.script))} | ${fmt(list.map((x) => x.start))}`);
  const base = byServer.dnsmasq;
  for (const [server, list] of Object.entries(byServer)) {
    if (server === 'dnsmasq' || !base) continue;
    const ratio = (key: keyof Timing) => (median(list.map((x) => x[key])) / median(base.map((x) => x[key]))).toFixed(2);
    console.log(`${firmware}: ${server} / dnsmasq = ${ratio('start')}× to the start callback (target ≤ 1.1×), ${ratio('script')}× to the iPXE script`);
  }
}
