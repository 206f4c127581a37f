/**
 * Issue 18's proof, Secure Boot on: an OVMF VM with Microsoft's keys enrolled (q35 with SMM)
 * PXE-boots from kickstand alone through the signed chain: DHCP (arch 7, a `secureBoot` profile)
 * hands out shim → shim loads GRUB from its own directory → GRUB reads grub/grub.cfg, which sends
 * it to grub/grub.cfg-01-<mac> → Debian's signed kernel and the installer stand-in, all over TFTP
 * as pinned assets → `built`. The install's hardware report carries Secure Boot as the guest's
 * firmware says it (the SecureBoot EFI variable). After `built` the stand-in reboots; GRUB gets the
 * local configuration and the firmware goes on to the disk.
 * The negative case: the same kernel with its signature removed is refused by the chain, and the
 * machine fails at its pxe-booting deadline with the hint that names Secure Boot.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { INSTALL_PATH } from '../../server/lifecycle/table.js';
import type { StoredEvent } from '../../server/model/events.js';
import { diskArgs, grubBed, until } from './lib/grub-bed.js';
import { DEFAULT_MODULES, guestImage, type GuestImage } from './lib/guest-image.js';
import { scratchDir } from './lib/netns.js';
import { installSignedLoaders, LOCAL_DISK_MARKER, signedLocalDisk, writeUnsigned } from './lib/secure-boot.js';

if (process.getuid?.() !== 0) t.plan(0, 'needs root (network namespaces, taps)');
t.setTimeout(900_000);

const MAC = '52:54:00:5b:00:01';
const DASHED = MAC.replace(/:/g, '-');

/** Secure Boot on, Debian's signed shim and GRUB; the disk holds a signed chain of its own. */
const secureBed = (t: Test, work: string, guest: GuestImage, config?: Record<string, unknown>) =>
  grubBed(t, {
    work,
    guest,
    mac: MAC,
    arch: 'x86_64',
    secureBoot: true,
    loaders: installSignedLoaders,
    disk: async (dir) => diskArgs(await signedLocalDisk(join(dir, 'disk.img'), dir)),
    console: 'ttyS0',
    memoryMb: 512,
    config,
  });

const plain = (text: string) => text.replace(/\x1b(\[[0-9;=?]*[A-Za-z]|c)/g, '');

t.test('shim → GRUB → signed kernel → stand-in → built, Secure Boot on; then local boot goes to the disk', async (t) => {
  const work = await scratchDir('secure-boot');
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const guest = await guestImage({ workDir: join(work, 'guest'), modules: [...DEFAULT_MODULES, 'efivarfs'] });
  const { ks, vm, progress } = await secureBed(t, work, guest);

  const done = await until(
    'ready, then the local GRUB configuration',
    600_000,
    async () => {
      const p = await progress();
      if (p.state === 'failed') return p;
      const local = p.events.some((e) => e.kind === 'ipxe-script' && e.data?.format === 'grub' && e.data?.script === 'local');
      return p.state === 'ready' && local ? p : undefined;
    },
    vm,
  );
  const seconds = (performance.now() - vm.startedAt) / 1000;
  t.comment(`Secure Boot VM: ready and back at the local configuration ${seconds.toFixed(0)} s after QEMU start`);
  t.equal(done.state, 'ready', `ready (${done.phase ?? ''} ${done.reason ?? ''})`);
  const of = (kind: string, pred: (e: StoredEvent) => boolean = () => true) => done.events.filter((e) => e.kind === kind && pred(e));
  t.ok(of('dhcp', (e) => e.data?.boot === 'grub/shimx64.efi' && e.data?.bootKind === 'tftp').length, 'DHCP handed out shim over TFTP');
  // Transfers as started: a transfer's end event can land after `ready` (its last ACK still awaited).
  const served = of('tftp', (e) => / started$/.test(e.message)).map((e) => String(e.data?.file));
  for (const file of ['grub/shimx64.efi', 'grub/grubx64.efi', 'grub/grub.cfg', `grub/grub.cfg-01-${DASHED}`, 'rocky-9/vmlinuz', 'rocky-9/initrd.img'])
    t.ok(served.includes(file), `TFTP served ${file}`);
  t.ok(served.indexOf('grub/shimx64.efi') < served.indexOf('grub/grubx64.efi') && served.indexOf('grub/grubx64.efi') < served.indexOf('rocky-9/vmlinuz'), 'shim, then GRUB, then the kernel');
  t.equal(of('ipxe-script', (e) => e.data?.format === 'grub' && e.data?.script === 'install').length, 1, 'one install GRUB configuration');
  t.ok(of('kickstart', (e) => /served/.test(e.message)).length, 'the kickstart fetched with the token');
  t.match(of('callback').map((e) => e.message).join('\n'), /installer started[\s\S]*built/, 'callbacks up to built');
  const states = of('state', (e) => !!e.data?.to).map((e) => e.data!.to);
  t.same(states, INSTALL_PATH.filter((s) => s !== 'installer-booting'), 'the install path in order, without installer-booting: GRUB fetches the kernel over TFTP, not /boot/assets');

  const hw = await ks.api('GET', '/api/v1/machines/grub-01/hardware', { token: ks.token });
  t.equal(hw.status, 200);
  t.equal(hw.json?.inventory?.firmware?.secureBoot, true, "the guest's own report: Secure Boot on, from its SecureBoot EFI variable");
  t.equal(hw.json?.inventory?.firmware?.mode, 'uefi');

  const serial = plain(await vm.serial());
  t.match(serial, /Secure boot enabled/, 'the signed kernel saw Secure Boot on');
  t.notMatch(serial, /iPXE/, 'no iPXE anywhere in the chain');
  // The local configuration chains to the disk's own (signed) boot loader.
  const local = await vm.waitForSerial(new RegExp(`kickstand: grub-01 boots from its local disk[\\s\\S]*${LOCAL_DISK_MARKER}`), 120_000).catch((err: Error) => err.message);
  t.match(local, 'kickstand: starting /EFI/BOOT/BOOTX64.EFI', "kickstand's GRUB found the disk's loader");
  t.match(local, LOCAL_DISK_MARKER, "the disk's signed chain ran: local boot went to the disk");
  t.notOk(of('ipxe-script', (e) => e.data?.script === 'install').length > 1, 'no second install');
});

t.test('an unsigned kernel is refused by the chain: failed at the pxe-booting deadline, the hint names Secure Boot', async (t) => {
  const work = await scratchDir('secure-boot-unsigned');
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const signed = await guestImage({ workDir: join(work, 'guest'), modules: [...DEFAULT_MODULES, 'efivarfs'] });
  const kernel = join(work, 'vmlinuz-unsigned');
  await writeUnsigned(signed.kernel, kernel);
  // From the DHCP answer to GRUB refusing the kernel takes 10–30 s here (shim, GRUB and the kernel over TFTP).
  const DEADLINE = 75;
  const { vm, progress } = await secureBed(t, work, { ...signed, kernel }, { deadlines: { 'pxe-booting': DEADLINE } });
  const refused = await vm.waitForSerial(/bad shim signature|Access Denied|Security Violation/i, 300_000).catch((err: Error) => err.message);
  t.match(refused, /bad shim signature/i, 'GRUB refused the kernel: its signature check through shim failed');
  const failed = await until('failed', (DEADLINE + 60) * 1000, async () => ((await progress()).state === 'failed' ? progress() : undefined), vm);
  t.equal(failed.phase, 'pxe-booting', 'failed in pxe-booting');
  t.match(failed.reason, /deadline/);
  t.match(failed.hint, /Secure Boot/, 'the hint names Secure Boot');
  t.match(failed.hint, /signed/);
  t.notOk(failed.events.some((e) => e.kind === 'kickstart'), 'no kickstart was ever fetched');
  t.notMatch(plain(await vm.serial()), /Linux version/, 'the unsigned kernel never ran');
});
