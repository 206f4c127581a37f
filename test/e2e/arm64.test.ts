/**
 * Issue 18's ARM64 proof: qemu-system-aarch64 (TCG, virt, Cortex-A57) with AAVMF PXE-boots an
 * `arch: aarch64` machine from kickstand alone: DHCP (arch 11) → Debian's signed netboot GRUB for
 * ARM64 (grubnetaa64, a pinned asset over TFTP) → grub/grub.cfg → grub/grub.cfg-01-<mac> →
 * Debian's arm64 kernel and the installer stand-in (arm64 busybox and modules) over TFTP → built →
 * ready; then the same with Secure Boot on (AAVMF with Microsoft's keys): Debian's signed shim for
 * ARM64 first, which loads the GRUB beside it, and Debian's signed arm64 kernel.
 */
import { rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { StoredEvent } from '../../server/model/events.js';
import { diskArgs, grubBed, until } from './lib/grub-bed.js';
import { DEFAULT_MODULES, guestImage } from './lib/guest-image.js';
import { scratchDir } from './lib/netns.js';
import { installArm64Loaders } from './lib/secure-boot.js';

if (process.getuid?.() !== 0) t.plan(0, 'needs root (network namespaces, taps)');
t.setTimeout(1_800_000);

const CASES = [
  { name: 'GRUB', secureBoot: false, mac: '52:54:00:a6:40:01', loader: 'grub/grubaa64.efi' },
  { name: 'Secure Boot: shim → GRUB', secureBoot: true, mac: '52:54:00:a6:40:02', loader: 'grub/shimaa64.efi' },
];

for (const c of CASES)
  t.test(`ARM64, ${c.name}: DHCP arch 11 → ${c.loader} → arm64 kernel → stand-in → built → ready`, async (t) => {
    const work = await scratchDir('arm64');
    t.teardown(() => rm(work, { recursive: true, force: true }));
    const started = performance.now();
    const guest = await guestImage({ workDir: join(work, 'guest'), arch: 'arm64', modules: [...DEFAULT_MODULES, 'efivarfs'] });
    const { ks, vm, progress } = await grubBed(t, {
      work,
      guest,
      mac: c.mac,
      arch: 'aarch64',
      secureBoot: c.secureBoot,
      loaders: (assets) => installArm64Loaders(assets, { shim: c.secureBoot }),
      disk: async (dir) => {
        const file = join(dir, 'disk.img');
        await writeFile(file, '');
        await truncate(file, 64 << 20);
        return diskArgs(file);
      },
      console: 'ttyAMA0',
      memoryMb: 1024,
    });
    t.comment(`set-up (guest image, kickstand): ${((performance.now() - started) / 1000).toFixed(0)} s`);

    const done = await until(
      'ready',
      1_500_000,
      async () => {
        const p = await progress();
        return p.state === 'ready' || p.state === 'failed' ? p : undefined;
      },
      vm,
    );
    t.comment(`ARM64 VM (TCG), ${c.name}: ${done.state} ${((performance.now() - vm.startedAt) / 1000).toFixed(0)} s after QEMU start`);
    t.equal(done.state, 'ready', `ready (${done.phase ?? ''} ${done.reason ?? ''})`);
    const of = (kind: string, pred: (e: StoredEvent) => boolean = () => true) => done.events.filter((e) => e.kind === kind && pred(e));
    t.ok(of('dhcp', (e) => e.data?.boot === c.loader && e.data?.firmware === 'uefi-arm64').length, `DHCP (arch 11) handed out ${c.loader}`);
    // Transfers as started: a transfer's own end event can come after `ready` (once, the initrd's
    // last ACK had not arrived yet and the server was still waiting for it).
    const served = of('tftp', (e) => / started$/.test(e.message)).map((e) => String(e.data?.file));
    for (const file of [c.loader, 'grub/grubaa64.efi', 'grub/grub.cfg', `grub/grub.cfg-01-${c.mac.replace(/:/g, '-')}`, 'rocky-9/aarch64/vmlinuz', 'rocky-9/aarch64/initrd.img'])
      t.ok(served.includes(file), `TFTP served ${file}`);
    t.ok(of('kickstart', (e) => /served/.test(e.message)).length, 'the kickstart fetched with the token');
    t.match(of('callback').map((e) => e.message).join('\n'), /installer started[\s\S]*built/, 'callbacks up to built');
    const hw = await ks.api('GET', '/api/v1/machines/grub-01/hardware', { token: ks.token });
    t.equal(hw.json?.inventory?.cpu?.architecture, 'aarch64', "the guest's own report: an aarch64 CPU");
    t.equal(hw.json?.inventory?.firmware?.secureBoot, c.secureBoot, `and Secure Boot ${c.secureBoot ? 'on' : 'off'}, from its SecureBoot EFI variable`);
    const serial = await vm.serial();
    t.match(serial, /Booting Linux on physical CPU/, 'the arm64 kernel ran');
    if (c.secureBoot) t.match(serial, /Secure boot enabled/, 'with Secure Boot on, as the kernel saw it');
  });
