/**
 * The baseline boot of shared/reference/pxe-e2e-dnsmasq.sh, in the harness: dnsmasq (DHCP,
 * TFTP) and a node HTTP server speaking the machine-side contract boot three VMs at once through
 * iPXE into the installer stand-in, which must call back as the contract says. This proves the
 * harness and the stand-in independently of kickstand's own servers.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { callbackKickstart } from './lib/kickstarts.js';
import type { StubEvent } from './lib/stub-boot-server.js';
import { stubPxeBed } from './lib/stub-pxe.js';
import type { Firmware, NicRom } from './lib/vm.js';

if (process.getuid?.() !== 0) t.plan(0, 'needs root (network namespaces, taps)');
// Three TCG guests share 2 cores with the rest of the suite: a boot that takes 20 s alone can take 60.
t.setTimeout(240_000);

interface Case {
  label: string;
  firmware: Firmware;
  nicRom: NicRom;
  kernelArgs: string;
  kickstartMode: boolean;
  expect: string[];
}

const CASES: Case[] = [
  { label: 'BIOS, iPXE ROM, stand-in callbacks', firmware: 'bios', nicRom: 'ipxe', kernelArgs: 'standin.mode=self', kickstartMode: false, expect: ['start', 'progress:kickstart', 'progress:install', 'hostkeys', 'built'] },
  { label: 'UEFI, iPXE ROM, kickstart %pre/%post', firmware: 'uefi', nicRom: 'ipxe', kernelArgs: 'standin.mode=kickstart', kickstartMode: true, expect: ['start', 'progress:post', 'hostkeys', 'built'] },
  { label: 'UEFI, native PXE → TFTP → iPXE', firmware: 'uefi', nicRom: 'native', kernelArgs: 'standin.mode=self', kickstartMode: false, expect: ['start', 'progress:kickstart', 'progress:install', 'hostkeys', 'built'] },
];

t.test('dnsmasq + HTTP stub boot three VMs into the installer stand-in', async (t) => {
  const { guest, ns, base, serve, startVms } = await stubPxeBed(t, 'baseline', CASES.length);
  const machines = CASES.map((c, i) => {
    const mac = `52:54:00:77:00:${(0x10 + i).toString(16)}`;
    const token = randomBytes(12).toString('hex');
    return { mac, token, kernelArgs: c.kernelArgs, kickstart: c.kickstartMode ? callbackKickstart(base, token) : `# kickstart for ${mac}\ntext\n` };
  });
  const server = await serve(machines);
  const vms = await startVms(CASES.map((c, i) => ({ mac: machines[i].mac, firmware: c.firmware, nicRom: c.nicRom })));

  const callbacksOf = (token: string) => server.events.items.filter((e): e is Extract<StubEvent, { type: 'callback' }> => e.type === 'callback' && e.token === token);
  const results = await Promise.allSettled(
    CASES.map(async (c, i) => {
      const { token } = machines[i];
      await server.events.waitFor((e) => e.type === 'callback' && e.token === token && e.event === 'built', 150_000, `built callback from ${c.label}`);
      await vms[i].stop();
      return ((performance.now() - vms[i].startedAt) / 1000).toFixed(1);
    }),
  );
  const dnsmasqLog = await readFile(join(ns.workDir, 'dnsmasq.log'), 'utf8').catch(() => '');

  for (const [i, c] of CASES.entries()) {
    t.test(c.label, async (t) => {
      const r = results[i];
      const { mac, token } = machines[i];
      if (r.status === 'rejected') {
        t.fail(String(r.reason));
        t.comment((await vms[i].serial()).slice(-3000));
        return;
      }
      t.comment(`${c.label}: final callback ${r.value} s after QEMU start`);
      const got = callbacksOf(token).map((e) => (e.event === 'progress' ? `progress:${e.step}` : e.event));
      t.same(got, c.expect, 'callbacks in order, each once');
      const hostkeys = callbacksOf(token).find((e) => e.event === 'hostkeys');
      t.equal(hostkeys?.body.trim(), guest.hostKey.publicKey, 'host key reported is the one in the image');
      t.ok(
        server.events.items.some((e) => e.type === 'http' && e.path === '/boot/ipxe' && new URLSearchParams(e.query).get('mac') === mac && e.status === 200),
        'iPXE asked for its script with its own MAC',
      );
      t.ok(server.events.items.some((e) => e.type === 'http' && e.path === '/boot/kickstart' && e.query === `?token=${token}` && e.status === 200), 'kickstart fetched with the token');
      const serial = await vms[i].serial();
      t.match(serial, new RegExp(`command line: .*BOOTIF=01-${mac.replace(/:/g, '-')}\\b`), 'BOOTIF= from iPXE on the kernel command line');
      t.match(serial, new RegExp(`KS-STANDIN \\[[\\d.]+\\] net if=\\w+ mac=${mac}`), 'the stand-in took the interface BOOTIF names');
      const ip = new RegExp(`DHCPACK\\(br0\\) (\\S+) ${mac}`).exec(dnsmasqLog)?.[1];
      t.ok(ip, 'dnsmasq leased an address to the MAC');
      const tftp = new RegExp(`sent /usr/lib/ipxe/snponly\\.efi to ${ip?.replace(/\./g, '\\.')}\\b`).test(dnsmasqLog);
      t.equal(tftp, c.nicRom === 'native', c.nicRom === 'native' ? 'native PXE fetched snponly.efi over TFTP' : 'iPXE ROM went straight to HTTP');
    });
  }
  t.ok(server.events.items.filter((e) => e.type === 'http' && e.path === '/boot/assets/initrd.gz' && e.status === 200).length >= CASES.length, 'every VM fetched the initrd');
});
