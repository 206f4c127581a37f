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
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { INSTALL_PATH } from '../../server/lifecycle/table.js';
import type { StoredEvent } from '../../server/model/events.js';
import { DEFAULT_MODULES, guestImage, type GuestImage } from './lib/guest-image.js';
import { E2E_DISK } from './lib/installed-system.js';
import { e2eProfile, startKickstand, type Kickstand } from './lib/kickstand.js';
import { Netns, scratchDir } from './lib/netns.js';
import { installSignedLoaders, LOCAL_DISK_MARKER, sha256, signedLocalDisk, writeUnsigned } from './lib/secure-boot.js';
import { Vm } from './lib/vm.js';

if (process.getuid?.() !== 0) t.plan(0, 'needs root (network namespaces, taps)');
t.setTimeout(900_000);

const MAC = '52:54:00:5b:00:01';
const DASHED = MAC.replace(/:/g, '-');

interface Progress {
  state: string;
  phase?: string;
  reason?: string;
  hint?: string;
  events: StoredEvent[];
}

interface Bed {
  ks: Kickstand;
  vm: Vm;
  progress(): Promise<Progress>;
}

/** kickstand with the signed loaders and this guest's kernel as pinned assets, a `secureBoot` machine, a Secure Boot VM. */
async function bed(t: Test, work: string, guest: GuestImage, config: Record<string, unknown> = {}): Promise<Bed> {
  const ns = await Netns.create({ taps: 1 });
  t.teardown(() => ns.destroy());
  const assets = join(ns.workDir, 'kickstand', 'assets');
  const loaders = await installSignedLoaders(assets);
  const profile = { ...e2eProfile('e2e-secure-boot', 'uefi', { converge: false }), secureBoot: true };
  const ks = await startKickstand(ns, {
    guest,
    machines: [],
    documents: [profile],
    config: {
      assets: {
        dir: assets,
        files: {
          ...loaders,
          'rocky-9/vmlinuz': { path: 'rocky-9/vmlinuz', sha256: await sha256(guest.kernel) },
          'rocky-9/initrd.img': { path: 'rocky-9/initrd.img', sha256: await sha256(guest.initrd) },
        },
      },
      ...config,
    },
  });
  const machine = { name: 'sb-01', profile: profile.name, macs: [MAC], bmc: { driver: 'manual' }, params: { console: 'ttyS0' } };
  const created = await ks.api('POST', '/api/v1/machines', { token: ks.token, body: machine });
  if (created.status !== 201) throw new Error(`POST machine: ${created.status} ${created.text}`);
  const reinstall = await ks.api('POST', '/api/v1/machines/sb-01/reinstall', { token: ks.token });
  if (reinstall.status !== 202) throw new Error(`reinstall: ${reinstall.status} ${reinstall.text}`);
  const dir = join(work, `vm-${Date.now()}`);
  await mkdir(dir);
  // The disk is the firmware's second boot option (after the NIC), as on a server set to PXE first
  // (OVMF keeps only the boot options QEMU's boot order names), where the profile's system disk
  // is, for the install's hardware report. It holds a signed boot chain of its own.
  const disk = await signedLocalDisk(join(dir, 'disk.img'), dir);
  const vm = await Vm.start({
    ns,
    tap: ns.taps[0],
    mac: MAC,
    firmware: 'uefi',
    nicRom: 'native',
    secureBoot: true,
    workDir: dir,
    memoryMb: 512,
    extraArgs: ['-drive', `file=${disk},format=raw,if=none,id=disk0`, '-device', `virtio-blk-pci,drive=disk0,addr=0x${E2E_DISK.pciSlot.toString(16)}.0,bootindex=2`],
  });
  t.teardown(() => vm.stop());
  const progress = async (): Promise<Progress> => {
    const r = await ks.api('GET', '/api/v1/machines/sb-01/progress?events=2000', { token: ks.token });
    if (r.status !== 200) throw new Error(`progress: HTTP ${r.status} ${r.text}`);
    return r.json as Progress;
  };
  return { ks, vm, progress };
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, vm: Vm): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs / 1000} s\n${await vm.serialTail(30)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const plain = (text: string) => text.replace(/\x1b(\[[0-9;=?]*[A-Za-z]|c)/g, '');

t.test('shim → GRUB → signed kernel → stand-in → built, Secure Boot on; then local boot goes to the disk', async (t) => {
  const work = await scratchDir('secure-boot');
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const guest = await guestImage({ workDir: join(work, 'guest'), modules: [...DEFAULT_MODULES, 'efivarfs'] });
  const { ks, vm, progress } = await bed(t, work, guest);

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
  const sent = of('tftp', (e) => / sent /.test(e.message)).map((e) => String(e.data?.file));
  for (const file of ['grub/shimx64.efi', 'grub/grubx64.efi', 'grub/grub.cfg', `grub/grub.cfg-01-${DASHED}`, 'rocky-9/vmlinuz', 'rocky-9/initrd.img'])
    t.ok(sent.includes(file), `TFTP sent ${file}`);
  t.ok(sent.indexOf('grub/shimx64.efi') < sent.indexOf('grub/grubx64.efi') && sent.indexOf('grub/grubx64.efi') < sent.indexOf('rocky-9/vmlinuz'), 'shim, then GRUB, then the kernel');
  t.equal(of('ipxe-script', (e) => e.data?.format === 'grub' && e.data?.script === 'install').length, 1, 'one install GRUB configuration');
  t.ok(of('kickstart', (e) => /served/.test(e.message)).length, 'the kickstart fetched with the token');
  t.match(of('callback').map((e) => e.message).join('\n'), /installer started[\s\S]*built/, 'callbacks up to built');
  const states = of('state', (e) => !!e.data?.to).map((e) => e.data!.to);
  t.same(states, INSTALL_PATH.filter((s) => s !== 'installer-booting'), 'the install path in order, without installer-booting: GRUB fetches the kernel over TFTP, not /boot/assets');

  const hw = await ks.api('GET', '/api/v1/machines/sb-01/hardware', { token: ks.token });
  t.equal(hw.status, 200);
  t.equal(hw.json?.inventory?.firmware?.secureBoot, true, "the guest's own report: Secure Boot on, from its SecureBoot EFI variable");
  t.equal(hw.json?.inventory?.firmware?.mode, 'uefi');

  const serial = plain(await vm.serial());
  t.match(serial, /Secure boot enabled/, 'the signed kernel saw Secure Boot on');
  t.notMatch(serial, /iPXE/, 'no iPXE anywhere in the chain');
  // The local configuration chains to the disk's own (signed) boot loader.
  const local = await vm.waitForSerial(new RegExp(`kickstand: sb-01 boots from its local disk[\\s\\S]*${LOCAL_DISK_MARKER}`), 120_000).catch((err: Error) => err.message);
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
  const DEADLINE = 150;
  const { vm, progress } = await bed(t, work, { ...signed, kernel }, { deadlines: { 'pxe-booting': DEADLINE } });
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
