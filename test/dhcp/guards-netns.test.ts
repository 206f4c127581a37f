import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Lab, sh, type ServerHarness } from './netns.js';

/**
 * Authoritative mode's guards with real clients, in network namespaces:
 *
 *   [server ns] lan 10.68.0.1/24 ── (eth0 10.68.0.9) client ns
 *
 * perfdhcp floods 200 made-up MACs through its relay path (giaddr 10.68.0.9, listed in
 * dhcp.relays): unknown MACs get half the range at most and an inventory machine (udhcpc) still
 * gets an address; a RELEASE forged for that machine from another address changes nothing;
 * dhclient rebooting with a remembered lease that is not its own is NAKed and starts over; and
 * with no relay configured perfdhcp gets nothing.
 */

const lab = new Lab('gd');
t.teardown(() => lab.cleanup());
const S = lab.ns('s');
const C = lab.ns('c');
lab.link(S, 'lan', C, 'eth0');
sh(`ip -n ${S} addr add 10.68.0.1/24 dev lan && ip -n ${C} addr add 10.68.0.9/24 dev eth0`);
const work = mkdtempSync(join(tmpdir(), 'ks-guards-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

const KNOWN = '52:54:00:68:00:01';
const KNOWN2 = '52:54:00:68:00:02';
const view = (name: string, mac: string) => ({ name, macs: [mac], netboot: 'local', state: 'ready', firmware: 'bios', arch: 'x86_64', os: 'rocky-9' });
const spec = (relays: string[]) => ({
  dhcp: {
    mode: 'authoritative',
    interface: 'lan',
    unknownMachines: 'local',
    relays,
    subnets: [{ cidr: '10.68.0.0/24', range: ['10.68.0.100', '10.68.0.139'], gateway: '10.68.0.1', leaseSeconds: 600 }],
  },
  publicUrl: 'http://10.68.0.1:8080',
  machines: [view('known-1', KNOWN), view('known-2', KNOWN2)],
});
let server: ServerHarness;

function perfdhcp(clients: number, exchanges: number) {
  return lab.run(C, ['perfdhcp', '-4', '-l', 'eth0', '-r', '100', '-R', String(clients), '-n', String(exchanges), '-p', '5', '10.68.0.1'], 30_000);
}
const stat = (out: string, section: string, what: string) => Number(new RegExp(`${section}\\*+\\n[\\s\\S]*?${what}: (\\d+)`).exec(out)?.[1]);

async function udhcpc(mac: string, extra: string[] = []) {
  sh(`ip -n ${C} link set eth0 address ${mac}`);
  const r = await lab.run(C, ['busybox', 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '3', '-T', '1', '-s', 'test/dhcp/udhcpc-hook.sh', ...extra], 15_000);
  const line = r.stdout.split('\n').find((l) => l.startsWith('udhcpc bound:')) ?? '';
  return { ...r, ip: /\bip=(\S+)/.exec(line)?.[1] };
}

async function forge(packets: object[]): Promise<Array<{ type?: string; yiaddr: string }>> {
  const r = await lab.run(C, [process.execPath, '--import', 'tsx', 'test/dhcp/forge.ts', JSON.stringify({ to: '10.68.0.1', packets })]);
  if (r.code !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout) as { replies: Array<{ type?: string; yiaddr: string }> }).replies;
}

t.before(async () => {
  server = await lab.dhcpServer(S, spec(['10.68.0.9']));
});

t.test('dhclient rebooting into an address that is not its lease is NAKed, then leases through DISCOVER', async (t) => {
  sh(`ip -n ${C} link set eth0 address ${KNOWN2}`);
  const lf = join(work, 'dhclient.leases');
  writeFileSync(
    lf,
    'lease {\n  interface "eth0";\n  fixed-address 10.68.0.130;\n  option subnet-mask 255.255.255.0;\n  option dhcp-lease-time 600;\n' +
      '  option dhcp-server-identifier 10.68.0.1;\n  renew 4 2099/01/01 00:00:00;\n  rebind 4 2099/01/01 00:00:00;\n  expire 4 2099/01/01 00:00:00;\n}\n',
  );
  const r = await lab.run(C, ['dhclient', '-1', '-v', '-sf', '/bin/true', '-lf', lf, '-pf', join(work, 'dhclient.pid'), 'eth0'], 30_000);
  sh(`kill $(cat ${join(work, 'dhclient.pid')}) 2>/dev/null || true`);
  t.match(r.stderr, /DHCPREQUEST for 10\.68\.0\.130 on eth0/, 'dhclient asks for its remembered address first (INIT-REBOOT)');
  t.match(r.stderr, /DHCPNAK from 10\.68\.0\.1/, 'and is refused: the address is not its lease here');
  t.match(r.stderr, /DHCPDISCOVER on eth0/, 'so it starts over');
  t.match(readFileSync(lf, 'utf8'), /fixed-address 10\.68\.0\.\d+;[\s\S]*fixed-address 10\.68\.0\.\d+;/, 'and gets a lease');
  t.ok(server.events.some((e) => e.mac === KNOWN2 && e.level === 'warn' && /INIT-REBOOT for 10\.68\.0\.130, which is not this MAC's lease/.test(e.message)), 'the refusal is an event');
});

t.test('perfdhcp floods 200 MACs through its relay: half the range at most, udhcpc for an inventory machine still gets an address', async (t) => {
  const r = await perfdhcp(200, 200);
  const acks = stat(r.stdout, 'REQUEST-ACK', 'received packets');
  t.ok(acks > 0 && acks <= 20, `unknown MACs bound ${acks} of the 40 addresses (at most 20)`);
  const stats = await server.stats();
  t.ok((stats.dropped['unknown-share-full'] ?? 0) >= 100, `refusals counted: ${JSON.stringify(stats.dropped)}`);
  const known = await udhcpc(KNOWN);
  t.equal(known.code, 0, known.stderr);
  t.match(known.ip, /^10\.68\.0\.1[0-3]\d$/, `the inventory machine got ${known.ip}`);

  // Someone else forges that machine's RELEASE, from its own address: nothing is released.
  const before = (await server.stats()).dropped['release-refused'] ?? 0;
  await forge([{ type: 'RELEASE', mac: KNOWN, ciaddr: known.ip, serverId: '10.68.0.1' }]);
  await new Promise((r) => setTimeout(r, 200));
  t.equal((await server.stats()).dropped['release-refused'], before + 1, 'forged RELEASE refused');
  t.ok(server.events.some((e) => e.mac === KNOWN && /RELEASE refused: .* sent from 10\.68\.0\.9/.test(e.message)), 'and reported');
  const taker = await forge([{ type: 'DISCOVER', mac: KNOWN2, requested: known.ip }]);
  t.not(taker[0]?.yiaddr, known.ip, 'the address is still the machine’s: not offered to another');
  const again = await udhcpc(KNOWN, ['-r', known.ip!]);
  t.equal(again.ip, known.ip, 'and the machine keeps it');
});

t.test('a relay not in dhcp.relays is not answered', async (t) => {
  server.proc.kill('SIGTERM');
  await new Promise((r) => server.proc.once('exit', r));
  server = await lab.dhcpServer(S, spec([]));
  const r = await perfdhcp(10, 10);
  t.equal(stat(r.stdout, 'DISCOVER-OFFER', 'sent packets'), 10, r.stdout);
  t.equal(stat(r.stdout, 'DISCOVER-OFFER', 'received packets'), 0, 'no offer through an unlisted relay');
  t.ok((await server.stats()).dropped['relay-not-allowed'] >= 10);
  t.ok(server.events.some((e) => e.level === 'warn' && /relayed through 10\.68\.0\.9, which is not in dhcp\.relays/.test(e.message)), 'the operator is told which relay to list');
});
