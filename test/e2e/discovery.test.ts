/**
 * Discovery end to end: two VMs whose MACs nobody registered are switched on in a namespace where
 * kickstand runs with unknownMachines: discover and DHCP authoritative, each VM's tap a "switch
 * port" (Debian's lldpd). Both netboot the discovery boot (the installer stand-in with the
 * discovery kickstart) and the agent reports SMBIOS, disks with serials, the NIC and its LLDP
 * neighbour. A rule accepts the first box by its hardware and switch, names it from its serial
 * and reinstalls it: the agent is told to reboot, the box PXE-boots into its install, boots its
 * disk and is converged to `ready`, with no API call after power-on but reads. No rule matches
 * the second box: it stays `new`, and accepting it with a profile that does not fit is refused,
 * naming the profile fields.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { StoredEvent } from '../../server/model/events.js';
import { Inventory } from '../../server/model/hardware.js';
import { guestImage } from './lib/guest-image.js';
import { E2E_DISK, installedSystemDisk } from './lib/installed-system.js';
import { E2E_CONVERGE_STEPS, e2eProfile, startKickstand, type Kickstand } from './lib/kickstand.js';
import { Netns, scratchDir } from './lib/netns.js';
import { startNsLldpd } from './lib/ns-lldpd.js';
import { Vm } from './lib/vm.js';

if (process.getuid?.() !== 0) t.plan(0, 'needs root (network namespaces, taps)');
t.setTimeout(780_000);

const READY_WITHIN_MS = 600_000;
const BOX = { mac: '52:54:00:77:0e:01', serial: 'KSDISC-0001', product: 'KS-DISC-R1', uuid: 'd15c0e2e-0001-4000-8000-000000000001' };
const OTHER = { mac: '52:54:00:77:0e:02', serial: 'KSDISC-0002', product: 'KS-DISC-OTHER', uuid: 'd15c0e2e-0002-4000-8000-000000000002' };
const NAME = 'web-ksdisc-0001';

interface Entry {
  id: string;
  macs: string[];
  state: string;
  rule?: string;
  machine?: string;
  reason?: string;
  inventory?: unknown;
}

const PROFILE = e2eProfile('disc-web', 'bios', { converge: true });
const RULE = {
  kind: 'rule',
  name: 'disc-web',
  priority: 10,
  match: [
    { key: 'system.product', operator: 'In', values: [BOX.product] },
    { key: 'disks.count', operator: 'Gt', values: ['1'] },
    { key: 'interfaces.lldp.systemName', operator: 'In', values: ['sw-a3'] },
  ],
  profile: 'disc-web',
  machineName: 'web-{{system.serial}}',
  accept: 'auto',
  reinstall: true,
};

async function get<T>(ks: Kickstand, path: string): Promise<{ status: number; json: T; text: string }> {
  const r = await ks.api('GET', path, { token: ks.token });
  return { status: r.status, json: r.json as T, text: r.text };
}

t.test('an unknown box is discovered, matched by a rule, installed and converged to ready; another stays new and a misfit accept is refused', async (t) => {
  const work = await scratchDir('discovery');
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const guest = await guestImage({ workDir: join(work, 'guest') });
  const disk = await installedSystemDisk({ workDir: join(work, 'installed') });
  const ns = await Netns.create({ taps: 2, routerAdvertisements: true });
  t.teardown(() => ns.destroy());
  const switches = [
    await startNsLldpd(ns, { port: ns.taps[0]!, systemName: 'sw-a3', portId: 'Ethernet1/12', portDescription: 'rack a3 u7' }),
    await startNsLldpd(ns, { port: ns.taps[1]!, systemName: 'sw-a4', portId: 'Ethernet1/13' }),
  ];
  t.teardown(() => Promise.all(switches.map((s) => s.stop())));

  const ks = await startKickstand(ns, {
    guest,
    machines: [],
    documents: [PROFILE, RULE],
    config: { unknownMachines: 'discover', discovery: { lldpWaitSeconds: 10, pollSeconds: 2, kernelArgs: ['console=ttyS0'] } },
  });
  t.same((await get<unknown[]>(ks, '/api/v1/machines')).json, [], 'no machine is registered');

  /** A switched-on VM on tap `i` with SMBIOS type 1 and a data disk with a serial in slot 0xa. */
  const startBox = async (i: number, spec: typeof BOX, firmware: 'bios' | 'uefi', diskSerial: string, extraArgs: (dir: string) => Promise<string[]>) => {
    const dir = join(work, `box${i}`);
    await mkdir(dir);
    const vm = await Vm.start({
      ns,
      tap: ns.taps[i]!,
      mac: spec.mac,
      firmware,
      workDir: dir,
      memoryMb: 384,
      smbios: { manufacturer: 'Kickstand Labs', product: spec.product, serial: spec.serial, uuid: spec.uuid },
      disks: [{ sizeMb: 64, serial: diskSerial, pciSlot: 0x0a }],
      extraArgs: await extraArgs(dir),
    });
    t.teardown(() => vm.stop());
    return vm;
  };
  const started = performance.now();
  const box = await startBox(0, BOX, 'bios', 'KSDISC-D1', async (dir) => (await disk.copyFor(dir)).qemuArgs);
  const other = await startBox(1, OTHER, 'uefi', 'KSDISC-D2', async () => []);

  // From here on the test only reads: the rule and the agent do the rest.
  const entries = async () => (await get<Entry[]>(ks, '/api/v1/discovered')).json;
  const until = Date.now() + READY_WITHIN_MS;
  let otherEntry: Entry | undefined;
  let state = '';
  for (;;) {
    otherEntry ??= (await entries()).find((e) => e.macs.includes(OTHER.mac));
    if (otherEntry) await other.stop(); // its report is in; the rest of the run is the first box's
    const p = await get<{ state: string }>(ks, `/api/v1/machines/${NAME}/progress`);
    state = p.status === 200 ? p.json.state : 'not yet a machine';
    if (state === 'ready' || state === 'failed' || Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  const seconds = (performance.now() - started) / 1000;
  const progress = (await get<{ state: string; phase?: string; reason?: string; events: StoredEvent[] }>(ks, `/api/v1/machines/${NAME}/progress?events=2000`)).json;
  t.equal(state, 'ready', `the discovered box ended ready as ${NAME} (${progress?.phase ?? ''} ${progress?.reason ?? ''}; last: ${progress?.events?.at(-1)?.message})`);
  if (state !== 'ready') t.comment(`box console:\n${await box.serialTail(60)}`);
  t.comment(`power-on to ready: ${seconds.toFixed(1)} s`);

  const list = await entries();
  const mine = list.find((e) => e.macs.includes(BOX.mac));
  t.match(mine, { state: 'accepted', rule: 'disc-web', machine: NAME }, 'the rule accepted the box, named from its serial');
  const full = (await get<Entry>(ks, `/api/v1/discovered/${mine?.id}`)).json;
  const inv = Inventory.parse(full.inventory);
  t.match(inv.system, { manufacturer: 'Kickstand Labs', product: BOX.product, serial: BOX.serial, uuid: BOX.uuid }, 'SMBIOS from QEMU');
  t.equal(inv.firmware?.mode, 'bios');
  t.equal(inv.bootMac, BOX.mac);
  const data = inv.disks?.find((d) => d.serial === 'KSDISC-D1');
  t.ok(data?.byId?.includes('/dev/disk/by-id/virtio-KSDISC-D1'), `the data disk with its serial and by-id link: ${JSON.stringify(data)}`);
  t.ok(inv.disks?.some((d) => d.byPath === E2E_DISK.path), 'the system disk where the profile expects it');
  const nic = inv.interfaces?.find((i) => i.mac === BOX.mac);
  t.match(nic?.lldp, { systemName: 'sw-a3', portId: 'Ethernet1/12' }, 'the NIC with its LLDP neighbour, from lldpd on the tap');

  const machine = (await get<{ macs: string[]; nics: Record<string, string>; profile: string }>(ks, `/api/v1/machines/${NAME}`)).json;
  t.match(machine, { macs: [BOX.mac], nics: { data0: BOX.mac }, profile: 'disc-web' }, 'the machine has the box MACs, the boot NIC in the first role');
  const hw = (await get<{ source: string; inventory: { system: { serial: string } } }>(ks, `/api/v1/machines/${NAME}/hardware`)).json;
  t.match(hw, { source: 'install', inventory: { system: { serial: BOX.serial } } }, "the install's own %pre refreshed the hardware facts");

  const events = progress.events ?? [];
  const states = events.filter((e) => e.kind === 'state' && e.data?.to).map((e) => e.data!.to);
  t.same(states.slice(0, 2), ['reinstall-requested', 'power-cycling'], 'the accept started a reinstall');
  t.equal(states.at(-1), 'ready');
  t.ok(events.some((e) => e.kind === 'ipxe-script' && e.data?.script === 'install'), 'the box netbooted into its install after the agent rebooted it');
  const steps = events.filter((e) => e.kind === 'converge' && e.data?.step && e.data?.status).map((e) => `${e.data!.step} ${e.data!.status}`);
  t.same(steps, E2E_CONVERGE_STEPS.map((s) => `${s.name} changed`), 'and was converged');

  t.ok(otherEntry, 'the second box reported too');
  const second = (await get<Entry>(ks, `/api/v1/discovered/${otherEntry?.id}`)).json;
  t.equal(second.state, 'new', 'no rule matches it: new');
  t.equal(Inventory.parse(second.inventory).firmware?.mode, 'uefi');
  const why = (await get<{ rule: string; matches: boolean; reasons: string[] }[]>(ks, `/api/v1/discovered/${second.id}/rules`)).json;
  t.match(why, [{ rule: 'disc-web', matches: false }]);
  t.match(why[0]?.reasons.join('\n'), /system\.product is "KS-DISC-OTHER", not In \[KS-DISC-R1\]/, 'the rule test says why');
  const refused = await ks.api('POST', `/api/v1/discovered/${second.id}/accept`, { token: ks.token, body: { name: 'other-1', profile: 'disc-web' } });
  t.equal(refused.status, 409, 'accepting it with a profile that does not fit is refused');
  const issues = (refused.json as { issues: { path: string; message: string }[] }).issues;
  t.match(issues, [{ path: 'disks.sys0', message: /pci-0000:00:04\.0 not on this machine; it has by-path pci-0000:00:0a\.0/ }, { path: 'firmware', message: /bios.*uefi/ }]);
  t.equal((await get<unknown>(ks, '/api/v1/machines/other-1')).status, 404, 'and created nothing');
});
