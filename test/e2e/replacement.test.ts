/**
 * Replacement by cabling end to end: the machine web-x is a slot, not a box — no MAC, only
 * `cabling: { data0: sw-a3 Ethernet1/12 }`, `replace: auto` and a static address. kickstand runs
 * with unknownMachines: discover and DHCP authoritative; one tap is the switch port (Debian's
 * lldpd as sw-a3, port id Ethernet1/12). The first VM switched on there netboots the discovery
 * boot, its agent reports the switch port, and it takes the empty slot: it is web-x, installs,
 * boots its disk and is converged to `ready`. Then it dies (QEMU stopped). A second VM, with
 * another MAC, SMBIOS serial and data disk, is switched on in the same port, and nothing else
 * happens from the test's side but reads: it takes web-x over (the old MAC retired, the history
 * written), reinstalls and is converged to `ready` under the same name and address, with its own
 * host key pinned.
 *
 * Each box brings its own host key, as a real installer makes a fresh one: the stand-in bakes
 * its key into the installer image, so the second box boots a second build of it (swapped in
 * under kickstand's asset name once the first box is dead; kickstand checks the sha256 only at
 * start).
 */
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { StoredEvent } from '../../server/model/events.js';
import { INSTALL_PATH } from '../../server/lifecycle/table.js';
import { guestImage } from './lib/guest-image.js';
import { installedSystemDisk } from './lib/installed-system.js';
import { E2E_CONVERGE_STEPS, e2eProfile, startKickstand, type Kickstand } from './lib/kickstand.js';
import { Netns, scratchDir } from './lib/netns.js';
import { startNsLldpd } from './lib/ns-lldpd.js';
import { Vm } from './lib/vm.js';

if (process.getuid?.() !== 0) t.plan(0, 'needs root (network namespaces, taps)');
t.setTimeout(900_000);

/** Power-on to ready for one box: discovery boot, install, installed system, converge reboot. */
const READY_WITHIN_MS = 400_000;
const NAME = 'web-x';
const SLOT = { data0: { switch: 'sw-a3', port: 'Ethernet1/12' } };
const OLD = { mac: '52:54:00:77:0f:01', serial: 'KSREPL-0001', disk: 'KSREPL-D1', uuid: 'd15c0e2e-0f01-4000-8000-000000000001' };
const NEW = { mac: '52:54:00:77:0f:02', serial: 'KSREPL-0002', disk: 'KSREPL-D2', uuid: 'd15c0e2e-0f02-4000-8000-000000000002' };

const PROFILE = e2eProfile('slot-web', 'bios', { converge: true, ipv4: 'static' });

interface Progress {
  state: string;
  phase?: string;
  reason?: string;
  events: StoredEvent[];
}

interface DiscoveredEntry {
  id: string;
  macs: string[];
  state: string;
  machine?: string;
  replaces?: string;
  reason?: string;
}

interface MachineView {
  name: string;
  macs: string[];
  nics: Record<string, string>;
  ipv4?: { address: string; gateway?: string };
  state: string;
  box: { macs: string[]; serial?: string };
  replacements: { machine: string; slot: unknown; oldMacs: string[]; newMacs: string[]; oldSerial?: string; newSerial?: string }[];
}

async function get<T>(ks: Kickstand, path: string): Promise<{ status: number; json: T; text: string }> {
  const r = await ks.api('GET', path, { token: ks.token });
  return { status: r.status, json: r.json as T, text: r.text };
}

/** Every stored event: the SSE stream's backlog from the first id, read for a few seconds. */
async function allEvents(ks: Kickstand): Promise<StoredEvent[]> {
  const r = await ks.api('GET', '/api/v1/events?lastEventId=0', { token: ks.token, readForMs: 4000 });
  if (r.status !== 200) throw new Error(`GET /events: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  // Complete messages only: the last chunk may be cut off mid-message.
  return r.text
    .split('\n\n')
    .slice(0, -1)
    .flatMap((msg) => msg.split('\n').filter((l) => l.startsWith('data: ')))
    .map((l) => JSON.parse(l.slice('data: '.length)) as StoredEvent);
}

/** What a failed run leaves to read: the box's installer and agent lines, kickstand's events and warnings. */
async function diagnose(ks: Kickstand, vm: Vm, afterId: number): Promise<string> {
  const lines = (await vm.serialTail(100_000)).split('\n').filter((l) => /KS-STANDIN|KS-INSTALLED|kickstand-agent|iPXE|http:\/\//.test(l));
  const squeezed = lines.filter((l, i) => l !== lines[i - 1]);
  const events = (await allEvents(ks).catch(() => [] as StoredEvent[])).filter((e) => e.id > afterId && !['dhcp', 'tftp', 'asset'].includes(e.kind));
  const warnings = ks.logs.items.filter((l) => Number(l.level) >= 40 || /inventory|discovery\?/.test(JSON.stringify(l)));
  return [
    `console (${squeezed.length} lines):`,
    ...squeezed.slice(0, 150),
    `events after ${afterId} (without dhcp, tftp, asset):`,
    ...events.map((e) => `${e.id} ${new Date(e.at).toISOString().slice(11, 23)} ${e.kind} ${e.level} ${e.machine ?? '-'} ${e.mac ?? '-'} ${e.ip ?? '-'}: ${e.message}`),
    'kickstand warnings and discovery requests:',
    ...warnings.slice(0, 40).map((l) => JSON.stringify(l).slice(0, 600)),
  ].join('\n');
}

/** The OpenSSH key line's base64 part. */
const keyBody = (line: string) => line.split(' ')[1] ?? '';

t.test('a new box in the cabled slot of a dead one takes over its name, address and profile, and is converged to ready', async (t) => {
  const work = await scratchDir('replacement');
  t.teardown(() => rm(work, { recursive: true, force: true }));
  // Two builds of the stand-in: one host key each.
  const guests = [await guestImage({ workDir: join(work, 'guest1') }), await guestImage({ workDir: join(work, 'guest2') })];
  t.not(keyBody(guests[0]!.hostKey.publicKey), keyBody(guests[1]!.hostKey.publicKey), 'the two installer builds carry different host keys');
  const disk = await installedSystemDisk({ workDir: join(work, 'installed') });
  const ns = await Netns.create({ taps: 1, routerAdvertisements: true });
  t.teardown(() => ns.destroy());
  const sw = await startNsLldpd(ns, { port: ns.taps[0]!, systemName: SLOT.data0.switch, portId: SLOT.data0.port, portDescription: 'rack a3 u12' });
  t.teardown(() => sw.stop());

  const ks = await startKickstand(ns, {
    guest: guests[0]!,
    machines: [],
    documents: [PROFILE],
    config: { unknownMachines: 'discover', discovery: { lldpWaitSeconds: 10, pollSeconds: 2, replaceQuietSeconds: 5, kernelArgs: ['console=ttyS0'] } },
  });
  // startKickstand writes only profiles and rules from `documents`: the slot is registered here.
  const address = `${ns.serverAddress.replace(/\d+$/, '40')}/${ns.prefixLength}`;
  const slot = { name: NAME, profile: PROFILE.name, cabling: SLOT, replace: 'auto', ipv4: { address, gateway: ns.serverAddress }, params: { console: 'ttyS0' } };
  const posted = await ks.api('POST', '/api/v1/machines', { token: ks.token, body: slot });
  t.equal(posted.status, 201, `the slot is registered without a MAC: ${posted.text.slice(0, 300)}`);
  t.match((await get<MachineView>(ks, `/api/v1/machines/${NAME}`)).json, { macs: [], state: 'registered', box: { macs: [] }, replacements: [] }, 'an empty slot');

  /** A switched-on VM on the one tap, with SMBIOS type 1, a data disk in slot 0xa and its own copy of the installed-system disk. */
  const startBox = async (label: string, spec: typeof OLD) => {
    const dir = join(work, label);
    await mkdir(dir);
    const vm = await Vm.start({
      ns,
      tap: ns.taps[0]!,
      mac: spec.mac,
      firmware: 'bios',
      workDir: dir,
      memoryMb: 384,
      smbios: { manufacturer: 'Kickstand Labs', product: 'KS-SLOT-R1', serial: spec.serial, uuid: spec.uuid },
      disks: [{ sizeMb: 64, serial: spec.disk, pciSlot: 0x0a }],
      extraArgs: (await disk.copyFor(dir)).qemuArgs,
    });
    t.teardown(() => vm.stop());
    return vm;
  };
  /**
   * Reads only, until web-x has `mac` and is ready (or failed, or the time is up). Once web-x has
   * the box's MAC, the box's discovered entry must say accepted as web-x: that is what its agent
   * polls for (reboot into the install); anything else leaves it waiting, so the wait ends there.
   */
  const untilReady = async (mac: string) => {
    const started = performance.now();
    let m: MachineView | undefined;
    let entry: DiscoveredEntry | undefined;
    for (const until = Date.now() + READY_WITHIN_MS; ; ) {
      m = (await get<MachineView>(ks, `/api/v1/machines/${NAME}`)).json;
      entry = (await get<DiscoveredEntry[]>(ks, '/api/v1/discovered')).json.find((e) => e.macs.includes(mac));
      if (m.macs.includes(mac) && (m.state === 'ready' || m.state === 'failed' || entry?.state !== 'accepted')) break;
      if (Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    const p = (await get<Progress>(ks, `/api/v1/machines/${NAME}/progress?events=2000`)).json;
    return { m: m!, p, entry, seconds: (performance.now() - started) / 1000 };
  };
  const pinned = (p: Progress) => p.events.filter((e) => e.kind === 'callback' && e.data?.event === 'hostkeys').flatMap((e) => (e.data?.keys as string[] | undefined) ?? []);

  // The first box: the slot's first occupant.
  const vm1 = await startBox('box1', OLD);
  const first = await untilReady(OLD.mac);
  t.equal(first.m.state, 'ready', `the first box ended ready as ${NAME} (${first.p.phase ?? ''} ${first.p.reason ?? ''}; last: ${first.p.events.at(-1)?.message})`);
  t.comment(`first box: power-on to ready ${first.seconds.toFixed(1)} s`);
  if (first.m.state !== 'ready') {
    t.comment(await diagnose(ks, vm1, 0));
    return;
  }
  t.match(first.m, { macs: [OLD.mac], nics: { data0: OLD.mac }, ipv4: { address }, box: { macs: [OLD.mac], serial: OLD.serial } }, 'web-x is the first box');
  t.match(first.entry, { state: 'accepted', machine: NAME, replaces: NAME }, 'its discovered entry: accepted as web-x, the slot it filled');
  const keys1 = pinned(first.p);
  t.same(keys1.map(keyBody), [keyBody(guests[0]!.hostKey.publicKey)], 'its host key is pinned (the first build)');

  // The first box dies. The second build of the installer is what the next box boots.
  await vm1.stop();
  const died = Date.now();
  const asset = join(ns.workDir, 'kickstand', 'assets', 'rocky-9', 'initrd.img');
  await copyFile(guests[1]!.initrd, `${asset}.new`);
  await rename(`${asset}.new`, asset);
  await new Promise((r) => setTimeout(r, Math.max(0, 6000 - (Date.now() - died))));
  const before = (await allEvents(ks)).at(-1)?.id ?? 0;

  // The second box, in the same port: from here on the test only reads.
  const vm2 = await startBox('box2', NEW);
  const second = await untilReady(NEW.mac);
  const { m, p } = second;
  t.match(second.entry, { state: 'accepted', machine: NAME, replaces: NAME }, `the second box's discovered entry: accepted as web-x (${second.entry?.state}: ${second.entry?.reason ?? ''})`);
  t.equal(m.state, 'ready', `the second box ended ready as ${NAME} (${p.phase ?? ''} ${p.reason ?? ''}; last: ${p.events.at(-1)?.message})`);
  t.comment(`second box: power-on to ready ${second.seconds.toFixed(1)} s`);
  if (m.state !== 'ready') t.comment(await diagnose(ks, vm2, before));

  t.equal(m.name, NAME, 'the same name');
  t.same(m.macs, [NEW.mac], 'the new box MACs');
  t.same(m.nics, { data0: NEW.mac }, 'data0 is the NIC on sw-a3 Ethernet1/12');
  t.match(m.ipv4, { address, gateway: ns.serverAddress }, 'the same static address');
  t.match(m.box, { macs: [NEW.mac], serial: NEW.serial }, 'the box in the slot now');
  t.match(
    m.replacements,
    [
      { machine: NAME, slot: SLOT, oldMacs: [], newMacs: [OLD.mac], newSerial: OLD.serial },
      { machine: NAME, slot: SLOT, oldMacs: [OLD.mac], newMacs: [NEW.mac], oldSerial: OLD.serial, newSerial: NEW.serial },
    ],
    'the history: the empty slot took the first box, then the second box replaced it',
  );
  t.equal(m.replacements.length, 2, 'two boxes, two entries');
  const hw = (await get<{ inventory: { system?: { serial?: string }; disks?: { serial?: string }[] } }>(ks, `/api/v1/machines/${NAME}/hardware`)).json;
  t.equal(hw.inventory.system?.serial, NEW.serial, 'the hardware facts are the new box');
  t.ok(hw.inventory.disks?.some((d) => d.serial === NEW.disk) && !hw.inventory.disks?.some((d) => d.serial === OLD.disk), 'with its data disk, not the old one');

  const keys2 = pinned(p);
  t.same(keys2.map(keyBody), [keyBody(guests[1]!.hostKey.publicKey)], 'the new box host key is pinned (the second build)');
  t.notSame(keys2.map(keyBody), keys1.map(keyBody), 'and differs from the dead box');
  const ups = (await vm2.serial()).match(/KS-INSTALLED \[[\d.]+\] sshd up .*/g) ?? [];
  const suffix = keyBody(guests[1]!.hostKey.publicKey).slice(-16);
  t.ok(ups.length >= 2 && ups.every((l) => l.includes(`on ${address} as ${NAME}, host key ${suffix}`)), `the installed system came up at ${address} as ${NAME} with that key: ${ups.join(' | ')}`);

  const steps = p.events.filter((e) => e.kind === 'converge' && e.data?.step && e.data?.status).map((e) => `${e.data!.step} ${e.data!.status}`);
  t.same(steps, E2E_CONVERGE_STEPS.map((s) => `${s.name} changed`), 'converged on the fresh system: every step changed something');
  const audit = await ks.api('POST', `/api/v1/machines/${NAME}/converge/audit`, { token: ks.token });
  t.equal(audit.status, 200, `audit answered: ${audit.text.slice(0, 300)}`);
  const a = audit.json as { ok: boolean; counts: Record<string, number>; steps: { name: string; status: string }[] };
  t.ok(a.ok, 'the audit reached the new box with the pinned key');
  t.equal(a.counts?.drift, 0, `no drift: ${JSON.stringify(a.steps?.map((s) => `${s.name}:${s.status}`))}`);

  // The story in the event log, from the second box's power-on.
  const events = (await allEvents(ks)).filter((e) => e.id > before);
  const report = events.findIndex((e) => e.kind === 'inventory' && e.mac === NEW.mac && e.data?.replaces === NAME);
  const replaced = events.findIndex((e) => e.kind === 'replaced' && e.machine === NAME);
  t.ok(report >= 0, `the second box's discovery report, cabled as ${NAME}: ${events[report]?.message}`);
  t.ok(replaced > report, `then replaced: ${events[replaced]?.message}`);
  t.match(events[replaced]?.data, { slot: SLOT, oldMacs: [OLD.mac], newMacs: [NEW.mac], oldSerial: OLD.serial, newSerial: NEW.serial }, 'its data: slot, old and new MACs and serials');
  t.equal(events.filter((e) => e.kind === 'replaced').length, 1, 'one replacement');
  const after = events.slice(replaced + 1);
  const states = after.filter((e) => e.kind === 'state' && e.machine === NAME && e.data?.to).map((e) => e.data!.to);
  t.same(states, INSTALL_PATH, 'then the install path, in order, to ready');
  t.notOk(events.some((e) => e.kind === 'ipxe-script' && e.mac === OLD.mac), 'no iPXE script went to the old MAC after the first box died');
  t.ok(
    after.some((e) => e.kind === 'ipxe-script' && e.mac === NEW.mac && e.data?.script === 'install'),
    'the new box netbooted into its install after the agent rebooted it',
  );

  // The old MAC is nobody's: should the dead box come back, it never gets an install script.
  const probed = (await allEvents(ks)).at(-1)?.id ?? 0;
  const script = await ks.api('GET', `/boot/ipxe?mac=${OLD.mac}`);
  t.equal(script.status, 200, 'GET /boot/ipxe?mac=<old MAC> answers');
  t.match(script.text, /^# kickstand: no machine (is registered with this MAC|has MAC)/m, 'the old MAC gets the unknown or discovery script');
  t.notMatch(script.text, /# kickstand: install/, 'not an install script');
  const probe = (await allEvents(ks)).filter((e) => e.id > probed && e.kind === 'ipxe-script' && e.mac === OLD.mac && e.data?.script);
  t.ok(probe.length === 1 && probe.every((e) => e.machine === undefined && /^(unknown|discover)$/.test(String(e.data!.script))), `and kickstand books it to no machine: ${JSON.stringify(probe.map((e) => [e.machine, e.data?.script]))}`);
});
