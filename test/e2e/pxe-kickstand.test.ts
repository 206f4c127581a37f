/**
 * Issue 4's proof: kickstand is the only DHCP, TFTP and HTTP server on the rack network, and
 * three VMs (BIOS and UEFI with the iPXE NIC ROM, UEFI through the firmware's own PXE → TFTP →
 * iPXE) go from power-on to the installer stand-in, which runs the rendered kickstart's %pre and
 * %post callbacks. Everything is asserted from the operator API's progress of each machine.
 * After `built` the stand-in reboots: the next PXE boot must get the local-boot script. A fourth
 * VM's install fails: the kickstart's %onerror must leave that machine failed in `installing`.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { INSTALL_PATH } from '../../server/lifecycle/table.js';
import type { StoredEvent } from '../../server/model/events.js';
import { guestImage } from './lib/guest-image.js';
import { E2E_DISK } from './lib/installed-system.js';
import { startKickstand } from './lib/kickstand.js';
import { Netns, scratchDir } from './lib/netns.js';
import { Vm, type Firmware, type NicRom } from './lib/vm.js';

if (process.getuid?.() !== 0) t.plan(0, 'needs root (network namespaces, taps)');
// Three TCG guests share 2 cores with the rest of the suite: a 20 s boot can take 60 (or more).
t.setTimeout(300_000);

interface Case {
  name: string;
  firmware: Firmware;
  nicRom: NicRom;
  /** Stand-in settings for this VM (baked into the initrd by MAC); set for the failure case. */
  standin?: string;
}

const CASES: Case[] = [
  { name: 'bios-ipxe', firmware: 'bios', nicRom: 'ipxe' },
  { name: 'uefi-ipxe', firmware: 'uefi', nicRom: 'ipxe' },
  { name: 'bios-fails', firmware: 'bios', nicRom: 'ipxe', standin: 'standin.fail=install' },
  { name: 'uefi-native', firmware: 'uefi', nicRom: 'native' },
];

interface Progress {
  state: string;
  phase?: string;
  reason?: string;
  events: StoredEvent[];
}

/** The install failed in the installer: %onerror reported it, and the machine failed in `installing`. */
function checkFailed(t: Test, p: Progress): void {
  t.equal(p.state, 'failed');
  t.equal(p.phase, 'installing', 'failed in the phase that was running');
  const failed = p.events.find((e) => e.kind === 'callback' && e.data?.event === 'failed');
  t.match(String(failed?.data?.log ?? ''), /failing the install at install/, 'the failed callback carries the installer log tail');
  t.notOk(p.events.some((e) => e.kind === 'callback' && e.data?.event === 'built'), 'no built after the failure');
}

t.test('kickstand alone PXE-boots BIOS and UEFI VMs into the installer', async (t) => {
  const work = await scratchDir('kickstand');
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const machines = CASES.map((c, i) => ({ name: c.name, firmware: c.firmware, mac: `52:54:00:77:02:${(0x10 + i).toString(16)}` }));
  const perMac = Object.fromEntries(CASES.flatMap((c, i) => (c.standin ? [[machines[i].mac, c.standin]] : [])));
  const guest = await guestImage({ workDir: join(work, 'guest'), perMac });
  const ns = await Netns.create({ taps: CASES.length, routerAdvertisements: true });
  t.teardown(() => ns.destroy());
  const ks = await startKickstand(ns, { guest, machines });
  const progress = async (name: string): Promise<Progress> => {
    const r = await ks.api('GET', `/api/v1/machines/${name}/progress?events=1000`, { token: ks.token });
    if (r.status !== 200) throw new Error(`progress of ${name}: HTTP ${r.status} ${r.text}`);
    return r.json as Progress;
  };

  t.equal((await ks.api('GET', '/api/v1/machines/bios-ipxe/progress')).status, 401, 'the progress API wants the bearer token');
  for (const m of machines) {
    const r = await ks.api('POST', `/api/v1/machines/${m.name}/reinstall`, { token: ks.token });
    t.equal(r.status, 202, `reinstall ${m.name} accepted`);
  }

  const vms = await Promise.all(
    CASES.map(async (c, i) => {
      const dir = join(work, c.name);
      await mkdir(dir);
      // A blank disk where the profile expects it, for the install's own hardware report.
      return Vm.start({ ns, tap: ns.taps[i], mac: machines[i].mac, firmware: c.firmware, nicRom: c.nicRom, workDir: dir, memoryMb: 384, disks: [{ sizeMb: 64, pciSlot: E2E_DISK.pciSlot }] });
    }),
  );
  t.teardown(() => Promise.all(vms.map((vm) => vm.stop())));

  /** Polls until the machine's events hold a local-boot script after the install, or it failed. */
  const settle = async (name: string, vm: Vm): Promise<{ progress: Progress; seconds: number }> => {
    const until = Date.now() + 200_000;
    let readyAt = 0;
    for (;;) {
      const p = await progress(name);
      if (p.state === 'ready' && !readyAt) readyAt = performance.now();
      const localScript = p.events.some((e) => e.kind === 'ipxe-script' && e.data?.script === 'local');
      if (p.state === 'failed' || (p.state === 'ready' && localScript)) return { progress: p, seconds: (readyAt - vm.startedAt) / 1000 };
      if (Date.now() > until) throw new Error(`${name} still ${p.state} (${p.events.at(-1)?.message})`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  const results = await Promise.allSettled(CASES.map((c, i) => settle(c.name, vms[i]).finally(() => vms[i].stop())));

  for (const [i, c] of CASES.entries()) {
    const title = `${c.name}: ${c.firmware}, ${c.nicRom === 'ipxe' ? 'iPXE NIC ROM' : 'firmware PXE → TFTP → iPXE'}${c.standin ? `, ${c.standin}` : ''}`;
    t.test(title, async (t) => {
      const r = results[i];
      if (r.status === 'rejected') {
        t.fail(String(r.reason));
        t.comment((await vms[i].serial()).slice(-3000));
        return;
      }
      const { progress: p, seconds } = r.value;
      if (c.standin) return checkFailed(t, p);
      t.equal(p.state, 'ready', `ended ready (${p.phase ?? ''} ${p.reason ?? ''})`);
      t.comment(`${c.name}: ready ${seconds.toFixed(1)} s after QEMU start`);
      const states = p.events.filter((e) => e.kind === 'state' && e.data?.to).map((e) => e.data!.to);
      t.same(states, INSTALL_PATH, 'passed every state of the install path, in order');

      const of = (kind: string, pred: (e: StoredEvent) => boolean = () => true) => p.events.filter((e) => e.kind === kind && pred(e));
      const mac = machines[i].mac;
      t.ok(of('dhcp', (e) => e.mac === mac && e.data?.reply === 'ACK').length, 'DHCP ACK to its MAC');
      t.ok(of('ipxe-script', (e) => e.data?.script === 'install').length === 1, 'one install iPXE script');
      t.ok(of('asset', (e) => /rocky-9\/vmlinuz/.test(e.message)).length, 'kernel served');
      t.ok(of('asset', (e) => /rocky-9\/initrd\.img/.test(e.message)).length, 'initrd served');
      t.ok(of('kickstart', (e) => /served/.test(e.message)).length, 'kickstart fetched with the token');
      const callbacks = of('callback').map((e) => e.message);
      t.match(callbacks.join('\n'), /installer started[\s\S]*progress: post[\s\S]*host keys reported[\s\S]*built/, 'kickstart callbacks in order');
      const tftp = of('tftp');
      if (c.nicRom === 'native') {
        t.ok(of('dhcp', (e) => e.data?.bootKind !== 'ipxe-script').length, 'firmware PXE was offered a boot file, not a script');
        t.ok(tftp.length, 'the iPXE binary went over TFTP');
      } else t.equal(tftp.length, 0, 'iPXE ROM went straight to HTTP');
      const keys = of('callback', (e) => Array.isArray(e.data?.keys)).flatMap((e) => e.data!.keys as string[]);
      t.same(keys, [guest.hostKey.publicKey.split(' ').slice(0, 2).join(' ')], 'the host key in the image is the one kickstand pins');
      const local = of('ipxe-script', (e) => e.data?.script === 'local');
      t.ok(local.length, 'after built, the next PXE boot got the local-boot script');
    });
  }
});
