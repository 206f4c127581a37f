/**
 * Issue 8's proof: one API call reinstalls a powered-off machine. The VM starts paused (QEMU -S:
 * "off", as a machine whose BMC is up), behind the fake Redfish BMC; kickstand's redfish driver
 * sets a one-time PXE boot and powers it on, and the machine PXE-boots, installs and ends ready.
 * Nothing but `POST /reinstall` touches the VM: if the driver's calls did not reach the BMC, or
 * the BMC's reset did not start the VM, the machine would sit in power-cycling.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { INSTALL_PATH } from '../../server/lifecycle/transitions.js';
import type { StoredEvent } from '../../server/lifecycle/types.js';
import { qmp } from './fake-bmc/qmp.js';
import { guestImage } from './lib/guest-image.js';
import { startKickstand } from './lib/kickstand.js';
import { Netns, scratchDir } from './lib/netns.js';
import { startNsFakeBmc } from './lib/ns-fake-bmc.js';
import { Vm } from './lib/vm.js';

if (process.getuid?.() !== 0) t.plan(0, 'needs root (network namespaces, taps)');
t.setTimeout(240_000);

const NAME = 'bmc-bios';
const MAC = '52:54:00:77:08:10';

interface Progress {
  state: string;
  phase?: string;
  reason?: string;
  events: StoredEvent[];
}

async function waitForQmp(vm: Vm): Promise<void> {
  for (let i = 0; ; i++) {
    const status = await qmp(vm.qmpSocket, [{ execute: 'query-status' }]).catch(() => undefined);
    if (status) return;
    if (i > 100) throw new Error(`QEMU did not open its QMP socket: ${vm.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('POST /reinstall powers a switched-off VM on through Redfish and it ends ready', async (t) => {
  const work = await scratchDir('bmc');
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const guest = await guestImage({ workDir: join(work, 'guest') });
  const ns = await Netns.create({ taps: 1, routerAdvertisements: true });
  t.teardown(() => ns.destroy());

  const vmDir = join(work, 'vm');
  await mkdir(vmDir);
  const vm = await Vm.start({ ns, tap: ns.taps[0], mac: MAC, firmware: 'bios', workDir: vmDir, memoryMb: 384, extraArgs: ['-S'] });
  t.teardown(() => vm.stop());
  await waitForQmp(vm);
  const [before] = (await qmp(vm.qmpSocket, [{ execute: 'query-status' }])) as { running: boolean }[];
  t.equal(before.running, false, 'the VM starts powered off');

  const bmc = await startNsFakeBmc(ns, { qmpSocket: vm.qmpSocket, certDir: work });
  t.teardown(() => bmc.stop().catch(() => undefined));
  const ks = await startKickstand(ns, { guest, machines: [{ name: NAME, mac: MAC, firmware: 'bios', bmc: bmc.bmc }] });
  const progress = async (): Promise<Progress> => {
    const r = await ks.api('GET', `/api/v1/machines/${NAME}/progress?events=1000`, { token: ks.token });
    if (r.status !== 200) throw new Error(`progress: HTTP ${r.status} ${r.text}`);
    return r.json as Progress;
  };
  t.equal((await progress()).state, 'registered', 'registered before the reinstall');

  const started = performance.now();
  const r = await ks.api('POST', `/api/v1/machines/${NAME}/reinstall`, { token: ks.token });
  t.equal(r.status, 202, 'reinstall accepted');

  let p: Progress;
  for (const until = Date.now() + 200_000; ; ) {
    p = await progress();
    if (p.state === 'ready' || p.state === 'failed') break;
    if (Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const record = await bmc.stop();
  if (p.state !== 'ready') t.comment((await vm.serial()).slice(-3000));
  t.equal(p.state, 'ready', `ended ready (${p.phase ?? ''} ${p.reason ?? ''}; last: ${p.events.at(-1)?.message})`);
  t.comment(`ready ${((performance.now() - started) / 1000).toFixed(1)} s after POST /reinstall`);

  const states = p.events.filter((e) => e.kind === 'state' && e.data?.to);
  t.equal(states[0]?.data?.from, 'registered', 'the first transition leaves registered');
  t.same(states.map((e) => e.data!.to), INSTALL_PATH, 'passed every state of the install path, in order');

  // The BMC saw: boot override Pxe once (Legacy: a BIOS profile), then On, because the VM was
  // off; the boot the On started consumed the override.
  const kinds = record.log.map((e) => (e.kind === 'patch' ? `patch ${e.boot.BootSourceOverrideTarget}/${e.boot.BootSourceOverrideEnabled}/${e.boot.BootSourceOverrideMode}` : e.kind === 'reset' ? `reset ${e.resetType} from ${e.before}` : `boot ${e.device}/${e.override}`));
  t.same(kinds, ['patch Pxe/Once/Legacy', 'reset On from Off', 'boot Pxe/Once'], 'BMC: PXE-once override, On from Off, a PXE boot that consumed it');
  t.equal(record.boots.length, 1, 'one boot by the BMC; the reboot after the install was the guest\'s own');

  const power = p.events.filter((e) => e.kind === 'power').map((e) => e.message);
  t.match(power.join('\n'), /boot override set: next boot from Pxe, once \(bios\)[\s\S]*next boot: PXE once[\s\S]*reset On accepted[\s\S]*power cycle sent/, 'power events in the progress, in order');
  const at = (pred: (e: StoredEvent) => boolean) => p.events.findIndex(pred);
  const powerOn = at((e) => e.kind === 'power' && /reset On/.test(e.message));
  const firstDhcp = at((e) => e.kind === 'dhcp' && e.mac === MAC);
  t.ok(powerOn >= 0 && firstDhcp > powerOn, 'the VM asked for DHCP only after the BMC powered it on');
  t.ok(p.events.some((e) => e.kind === 'callback' && e.data?.event === 'built'), 'the installer reported built');
});
