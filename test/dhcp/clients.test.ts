import t from 'tap';
import { readFileSync } from 'node:fs';
import { Lab, sh, type ServerHarness } from './netns.js';

/**
 * Real DHCP clients against kickstand in authoritative mode, in network namespaces:
 *
 *   client ns (eth0) ── lan 10.62.0.1/24 ── [server ns] ── other 10.63.0.1/24 ── (eth0) stray ns
 *                                              default route via "other"
 *
 * The server is configured for "lan" only. The default route via "other" is what a server
 * bound to 0.0.0.0 would use for its 255.255.255.255 replies, so the lan clients getting
 * leases shows replies leave by the configured interface; the stray client getting nothing
 * shows it listens there only.
 */

const lab = new Lab('dc');
t.teardown(() => lab.cleanup());

const S = lab.ns('s');
const C = lab.ns('c');
const X = lab.ns('x');
lab.link(S, 'lan', C, 'eth0');
lab.link(S, 'other', X, 'eth0');
sh(`ip -n ${S} addr add 10.62.0.1/24 dev lan && ip -n ${S} addr add 10.63.0.1/24 dev other && ip -n ${S} route add default via 10.63.0.2`);
const HOOK = '/work/shared/reference/dhcp/udhcpc-env.sh';
const hook = (() => {
  try {
    readFileSync(HOOK);
    return HOOK;
  } catch {
    return 'test/dhcp/udhcpc-hook.sh';
  }
})();

const BIOS_MAC = '02:00:00:62:00:01';
const PUBLIC = 'http://10.62.0.1:8080';
let server: ServerHarness;

t.before(async () => {
  server = await lab.dhcpServer(S, {
    dhcp: {
      mode: 'authoritative',
      interface: 'lan',
      unknownMachines: 'local',
      // perfdhcp below relays from the client namespace's address.
      relays: ['10.62.0.9'],
      subnets: [{ cidr: '10.62.0.0/24', range: ['10.62.0.100', '10.62.0.250'], gateway: '10.62.0.1', dns: ['10.62.0.1'], leaseSeconds: 600 }],
    },
    publicUrl: PUBLIC,
    machines: [{ name: 'pxe-bios', macs: [BIOS_MAC], netboot: 'local', state: 'ready', firmware: 'bios', arch: 'x86_64', os: 'rocky-9', ipv4: { address: '10.62.0.21/24', dns: [] } }],
  });
});

const UUID = '00' + '42'.repeat(16);
async function udhcpc(ns: string, mac: string, extra: string[]) {
  sh(`ip -n ${ns} link set eth0 address ${mac}`);
  return lab.run(ns, ['busybox', 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '3', '-T', '1', '-s', hook, ...extra], 15_000);
}
function bound(out: string): Record<string, string> {
  const line = out.split('\n').find((l) => l.startsWith('udhcpc bound:')) ?? '';
  return Object.fromEntries([...line.matchAll(/(\w+)=(\S*)/g)].map((m) => [m[1], m[2]]));
}

t.test('udhcpc with BIOS PXE options gets its reservation and undionly.kpxe', async (t) => {
  const r = await udhcpc(C, BIOS_MAC, ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000', '-x', '0x5e:010201', '-x', `0x61:${UUID}`, '-O', 'bootfile']);
  t.equal(r.code, 0, r.stderr);
  t.match(bound(r.stdout), { ip: '10.62.0.21', siaddr: '10.62.0.1', boot_file: 'undionly.kpxe', bootfile: 'undionly.kpxe' });
  const ev = server.events.find((e) => e.mac === BIOS_MAC && e.data?.reply === 'ACK');
  t.match(ev, { kind: 'dhcp', machine: 'pxe-bios', ip: '10.62.0.21', data: { firmware: 'bios', boot: 'undionly.kpxe' } }, 'exchange reported on the machine');
  t.equal(await server.ipToMac('10.62.0.21'), BIOS_MAC, 'ipToMac for TFTP attribution');
});

t.test('udhcpc with UEFI options gets ipxe.efi from the pool', async (t) => {
  const r = await udhcpc(C, '02:00:00:62:00:02', ['-V', 'PXEClient:Arch:00007:UNDI:003016', '-x', '0x5d:0007', '-x', '0x5e:010300', '-x', `0x61:${UUID}`, '-O', 'bootfile']);
  t.equal(r.code, 0, r.stderr);
  const b = bound(r.stdout);
  t.match(b.ip, /^10\.62\.0\.(1\d\d|2[0-4]\d|250)$/);
  t.equal(b.boot_file, 'ipxe.efi');
});

t.test('udhcpc as iPXE gets the URL of its script', async (t) => {
  const mac = '02:00:00:62:00:03';
  const r = await udhcpc(C, mac, ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000', '-x', '0x4d:69505845', '-O', 'bootfile']);
  t.equal(r.code, 0, r.stderr);
  t.equal(bound(r.stdout).bootfile, `${PUBLIC}/boot/ipxe?mac=${mac}`);
});

t.test('dhclient gets a lease', async (t) => {
  sh(`ip -n ${C} link set eth0 address 02:00:00:62:00:04`);
  const dir = sh('mktemp -d').trim();
  const r = await lab.run(C, ['dhclient', '-1', '-v', '-sf', '/bin/true', '-lf', `${dir}/leases`, '-pf', `${dir}/pid`, 'eth0'], 20_000);
  const leases = readFileSync(`${dir}/leases`, 'utf8');
  sh(`kill $(cat ${dir}/pid) 2>/dev/null; rm -rf ${dir}`);
  t.equal(r.code, 0, r.stderr);
  t.match(leases, /fixed-address 10\.62\.0\.\d+;/);
  t.match(leases, /option dhcp-server-identifier 10\.62\.0\.1;/);
  t.match(r.stderr, /DHCPACK of 10\.62\.0\.\d+ from 10\.62\.0\.1/);
});

t.test("nmap's broadcast-dhcp-discover sees the offer", async (t) => {
  sh(`ip -n ${C} addr flush dev eth0 && ip -n ${C} addr add 10.62.0.8/24 dev eth0`);
  const r = await lab.run(C, ['nmap', '-e', 'eth0', '--script', 'broadcast-dhcp-discover', '--script-args', 'broadcast-dhcp-discover.timeout=3'], 30_000);
  t.match(r.stdout, /IP Offered: 10\.62\.0\.\d+/, r.stdout + r.stderr);
  t.match(r.stdout, /Server Identifier: 10\.62\.0\.1/);
});

t.test('perfdhcp through its relay path', async (t) => {
  sh(`ip -n ${C} addr flush dev eth0 && ip -n ${C} addr add 10.62.0.9/24 dev eth0`);
  const r = await lab.run(C, ['perfdhcp', '-4', '-l', 'eth0', '-r', '20', '-n', '40', '-R', '40', '-p', '4', '10.62.0.1'], 20_000);
  // perfdhcp stops counting when it has sent its last request, so the final answer in flight
  // may be missed; everything else must come back, to the relay address and port.
  const stat = (section: string, what: string) => Number(new RegExp(`${section}\\*+\\n[\\s\\S]*?${what}: (\\d+)`).exec(r.stdout)?.[1]);
  t.equal(stat('DISCOVER-OFFER', 'sent packets'), 40, r.stdout);
  t.ok(stat('DISCOVER-OFFER', 'received packets') >= 39, 'offers reach the relay');
  t.ok(stat('REQUEST-ACK', 'received packets') >= 38, 'acks reach the relay');
  t.equal(stat('REQUEST-ACK', 'rejected leases'), 0);
});

t.test('the other interface is not served', async (t) => {
  const before = (await server.stats()).received;
  const r = await udhcpc(X, '02:00:00:63:00:01', ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000']);
  t.not(r.code, 0, 'no lease on the other interface');
  t.equal((await server.stats()).received, before, 'its broadcasts never reach the server socket');
  t.ok(server.alive);
});

t.test('counters reach the Prometheus registry', async (t) => {
  const text = await server.metrics();
  t.match(text, /kickstand_dhcp_replies_total\{type="ACK"\} ([1-9]\d*)/);
  t.match(text, /kickstand_dhcp_requests_total\{type="DISCOVER"\} ([1-9]\d*)/);
});

t.test('a lease that cannot be stored is never acknowledged', async (t) => {
  server.proc.kill('SIGTERM');
  await new Promise((r) => server.proc.once('exit', r));
  const failing = await lab.dhcpServer(S, {
    failingStore: true,
    dhcp: { mode: 'authoritative', interface: 'lan', unknownMachines: 'local', subnets: [{ cidr: '10.62.0.0/24', range: ['10.62.0.100', '10.62.0.250'] }] },
    publicUrl: PUBLIC,
  });
  const r = await udhcpc(C, '02:00:00:62:00:09', ['-t', '2']);
  t.not(r.code, 0, 'no lease');
  t.match(r.stdout + r.stderr, /broadcasting select/, 'the OFFER went out (offers do not wait for the store)');
  const stats = await failing.stats();
  t.notOk(stats.replies.ACK, 'no ACK sent');
  t.ok(stats.dropped['store-error'] >= 1, 'withheld ACKs counted');
  t.ok(failing.alive);
});
