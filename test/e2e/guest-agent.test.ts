/**
 * The inventory agent (templates/discovery/agent.sh) in the installer stand-in, without kickstand:
 * dnsmasq and the stub boot server with its discovery endpoints (lib/stub-pxe.ts) boot two VMs through iPXE
 * into the stand-in, whose kickstart %pre fetches the agent and runs it as kickstand's kickstarts
 * do. Each VM has SMBIOS system data, virtio disks with serials at known PCI slots, and a "switch"
 * on its tap (Debian's lldpd). The reports must carry what the hardware says: SMBIOS, the disks
 * with udev's by-id/by-path names (emulated by the stand-in as systemd 252 names them), the NIC
 * and its LLDP neighbour, the firmware mode, the boot MAC.
 * - BIOS: an install's %pre (`--lldp-wait 20`, no --discover): one report, then the stand-in
 *   goes on and powers off.
 * - UEFI: the discovery kickstart's %pre (`--discover --interval 1`): report, then polls answered
 *   wait, wait, poweroff: the agent powers the VM off (QMP status `shutdown`).
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Inventory } from '../../server/model/hardware.js';
import { qmp } from './fake-bmc/qmp.js';
import { startNsLldpd } from './lib/ns-lldpd.js';
import type { StubEvent } from './lib/stub-boot-server.js';
import { stubPxeBed } from './lib/stub-pxe.js';
import type { DataDisk, Firmware, SmbiosSystem, Vm } from './lib/vm.js';

if (process.getuid?.() !== 0) t.plan(0, 'needs root (network namespaces, taps)');
// Two TCG guests on 2 cores: boot, the agent's LLDP wait and the report take 30-90 s each.
t.setTimeout(180_000);

const AGENT = fileURLToPath(new URL('../../templates/discovery/agent.sh', import.meta.url));
const MIB = 1024 * 1024;

interface Case {
  label: string;
  firmware: Firmware;
  discover: boolean;
  smbios: Required<Pick<SmbiosSystem, 'manufacturer' | 'product' | 'serial' | 'uuid'>>;
  disks: (DataDisk & { pciSlot: number })[];
  lldp: { systemName: string; portId?: string; portDescription?: string };
  /** The port id the guest should hear: the local id, else lldpd's interface name. */
  expectPortId: string;
}

const CASES: Case[] = [
  {
    label: 'BIOS, an install %pre reporting once',
    firmware: 'bios',
    discover: false,
    smbios: { manufacturer: 'Kickstand Labs', product: 'KS-R640-E2E', serial: 'KSE2E-A3-07', uuid: 'b1e4e0f0-3c2a-4d5e-9f10-2a3b4c5d6e01' },
    disks: [
      { sizeMb: 64, serial: 'KSDISK-A307-0', pciSlot: 0x0a },
      { sizeMb: 32, serial: 'KSDISK-A307-1', pciSlot: 0x0b },
    ],
    lldp: { systemName: 'sw-a3', portId: 'Ethernet1/12', portDescription: 'a3-07 eth0' },
    expectPortId: 'Ethernet1/12',
  },
  {
    label: 'UEFI, the discovery %pre, told to power off',
    firmware: 'uefi',
    discover: true,
    smbios: { manufacturer: 'Kickstand Labs', product: 'KS-R650-E2E', serial: 'KSE2E-A4-11', uuid: 'c2f5f1a1-4d3b-4e6f-8a21-3b4c5d6e7f02' },
    disks: [
      { sizeMb: 48, serial: 'KSDISK-A411-0', pciSlot: 0x0c },
      { sizeMb: 16, pciSlot: 0x0d },
    ],
    lldp: { systemName: 'sw-a4' },
    expectPortId: 'tap1',
  },
];

/** The %pre as kickstand's kickstarts run the agent, plus what udev left for lsblk and ls to show. */
function kickstart(base: string, token: string, discover: boolean): string {
  const agentArgs = discover ? '--discover --interval 1 --lldp-wait 20' : '--lldp-wait 20';
  return `# kickstand e2e: the inventory agent in %pre
text
%pre --log=/tmp/ks-pre.log
echo "lsblk: $(lsblk -d -n -o NAME,SERIAL | tr '\\n' ' ')"
echo "by-id: $(ls /dev/disk/by-id | tr '\\n' ' ')"
echo "by-path: $(ls /dev/disk/by-path | tr '\\n' ' ')"
until curl -fsS -o /tmp/kickstand-agent.sh '${base}/boot/discovery/agent'; do sleep 2; done
sh /tmp/kickstand-agent.sh --url '${base}' --token '${token}' ${agentArgs}
echo "agent exited $?"
%end
`;
}

t.test('the inventory agent in the stand-in: SMBIOS, disks, NIC, LLDP', async (t) => {
  const { ns, base, serve, startVms } = await stubPxeBed(t, 'agent', CASES.length);
  const machines = CASES.map((c, i) => {
    const token = randomBytes(12).toString('hex');
    return {
      mac: `52:54:00:77:01:${(0x10 + i).toString(16)}`,
      token,
      kickstart: kickstart(base, token, c.discover),
      kernelArgs: c.discover ? '' : 'standin.after=poweroff',
      actions: c.discover ? ['wait', 'wait', 'poweroff'] : undefined,
    };
  });
  const server = await serve(machines, { agentFile: AGENT });
  const switches = await Promise.all(CASES.map((c, i) => startNsLldpd(ns, { port: ns.taps[i], ...c.lldp })));
  t.teardown(() => Promise.all(switches.map((s) => s.stop())));

  const vms = await startVms(CASES.map((c, i) => ({ mac: machines[i].mac, firmware: c.firmware, smbios: c.smbios, disks: c.disks })));

  const seconds = (vm: Vm) => ((performance.now() - vm.startedAt) / 1000).toFixed(1);
  const results = await Promise.allSettled(
    CASES.map(async (c, i) => {
      const { token } = machines[i];
      const report = await server.events.waitFor((e) => e.type === 'inventory' && e.token === token, 150_000, `inventory from ${c.label}`);
      const reportedAfter = seconds(vms[i]);
      if (c.discover) await vms[i].waitForSerial(/kickstand-agent: powering off/, 30_000);
      else await vms[i].waitForSerial(/KS-STANDIN \[[\d.]+\] end: kickstart done/, 30_000);
      // -no-shutdown: a guest that powered off stays as a stopped QEMU with status "shutdown"
      let status = '';
      for (let n = 0; n < 50 && status !== 'shutdown'; n++) {
        [{ status }] = (await qmp(vms[i].qmpSocket, [{ execute: 'query-status' }])) as { status: string }[];
        if (status !== 'shutdown') await new Promise((r) => setTimeout(r, 100));
      }
      return { report: report as Extract<StubEvent, { type: 'inventory' }>, reportedAfter, status, doneAfter: seconds(vms[i]) };
    }),
  );

  for (const [i, c] of CASES.entries()) {
    t.test(c.label, async (t) => {
      const r = results[i];
      const { mac, token } = machines[i];
      const serial = await vms[i].serialTail(400);
      if (r.status === 'rejected') {
        t.fail(String(r.reason));
        t.comment(serial.split('\n').slice(-60).join('\n'));
        return;
      }
      t.comment(`${c.label}: report ${r.value.reportedAfter} s after QEMU start, powered off by ${r.value.doneAfter} s`);
      t.equal(r.value.report.contentType, 'application/json');
      const parsed = Inventory.safeParse(JSON.parse(r.value.report.body));
      t.ok(parsed.success, `the report is an Inventory: ${parsed.success ? '' : parsed.error.message}`);
      if (!parsed.success) return;
      const inv = parsed.data;

      t.match(inv.system, { manufacturer: c.smbios.manufacturer, product: c.smbios.product, serial: c.smbios.serial }, 'SMBIOS type 1');
      t.equal(inv.system?.uuid?.toLowerCase(), c.smbios.uuid, 'system UUID');
      t.equal(inv.firmware?.mode, c.firmware, 'firmware mode');
      t.equal(inv.bootMac, mac, 'boot MAC from BOOTIF=');
      t.ok((inv.memory?.totalMiB ?? 0) > 200, 'memory');
      t.equal(inv.cpu?.count, 1, 'one CPU');

      const disks = inv.disks ?? [];
      t.equal(disks.length, c.disks.length, 'one entry per disk');
      for (const [n, d] of c.disks.entries()) {
        const name = `vd${String.fromCharCode(0x61 + n)}`;
        const pci = `0000:00:${d.pciSlot.toString(16).padStart(2, '0')}.0`;
        const got = disks.find((x) => x.name === name);
        t.ok(got, `${name} reported`);
        t.equal(got?.sizeBytes, d.sizeMb * MIB, `${name} size`);
        t.equal(got?.byPath, `/dev/disk/by-path/pci-${pci}`, `${name} by-path from its PCI address`);
        if (d.serial) {
          t.equal(got?.serial, d.serial, `${name} serial`);
          t.same(got?.byId, [`/dev/disk/by-id/virtio-${d.serial}`], `${name} by-id`);
          t.match(serial, new RegExp(`lsblk: .*${name} +${d.serial}`), `lsblk reads ${name}'s serial from the udev database`);
        } else {
          t.notOk(got?.serial, `${name} has no serial`);
          t.notOk(got?.byId, `${name}: no by-id link without a serial`);
        }
        t.match(serial, new RegExp(`by-path: .*\\bvirtio-pci-${pci}\\b`), `${name}: the legacy virtio-pci by-path link too`);
      }

      const nics = inv.interfaces ?? [];
      t.equal(nics.length, 1, 'one NIC');
      t.match(nics[0], { mac, driver: 'virtio_net', carrier: true }, 'the NIC');
      t.match(nics[0]?.lldp, { systemName: c.lldp.systemName, portId: c.expectPortId, ...(c.lldp.portDescription ? { portDescription: c.lldp.portDescription } : {}) }, 'LLDP neighbour: the switch on its tap');

      t.equal(r.value.status, 'shutdown', 'the VM powered off');
      const polls = server.events.items.filter((e): e is Extract<StubEvent, { type: 'poll' }> => e.type === 'poll' && e.token === token).map((e) => e.action);
      if (c.discover) {
        t.same(polls, ['wait', 'wait', 'poweroff'], 'polled until told to power off');
        t.match(serial, /kickstand says wait/, 'the agent logged the wait');
      } else {
        t.same(polls, [], 'no polls without --discover');
        t.match(serial, /agent exited 0/, 'the agent returned 0 and the %pre went on');
      }
      if (!t.passing()) t.comment(serial.split('\n').slice(-60).join('\n'));
    });
  }
});
