import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Lab, sh } from './netns.js';

/**
 * Port 67 is one server's per interface: a second kickstand, or a dnsmasq, on the same
 * interface must fail to start with an error naming the port and the interface, not quietly
 * share the port (with SO_REUSEADDR both bound, and both answered every broadcast). Servers on
 * different interfaces of one host still coexist.
 *
 *   [server ns]  lan 10.66.0.1/24 ── (eth0) client ns
 *                other 10.67.0.1/24 ── (eth0) stray ns
 */

const lab = new Lab('ex');
t.teardown(() => lab.cleanup());
const S = lab.ns('s');
const C = lab.ns('c');
const X = lab.ns('x');
lab.link(S, 'lan', C, 'eth0');
lab.link(S, 'other', X, 'eth0');
sh(`ip -n ${S} addr add 10.66.0.1/24 dev lan && ip -n ${S} addr add 10.67.0.1/24 dev other`);
const work = mkdtempSync(join(tmpdir(), 'ks-exclusive-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

const spec = (iface: string, cidr: string, range: [string, string]) => ({
  dhcp: { mode: 'authoritative', interface: iface, unknownMachines: 'local', subnets: [{ cidr, range }] },
  publicUrl: 'http://10.66.0.1:8080',
});
const lanSpec = spec('lan', '10.66.0.0/24', ['10.66.0.100', '10.66.0.200']);

/** Who has UDP 67 in the server namespace, by process name. */
const holders = () => [...sh(`ip netns exec ${S} ss -Hulnp 'sport = :67'`).matchAll(/\("([^"]+)"/g)].map((m) => m[1]);

/** dnsmasq as a DHCP server on `iface` only (bind-interfaces: it sets SO_REUSEADDR and SO_REUSEPORT on 67). */
async function dnsmasq(tag: string): Promise<{ exited: number | null; stderr: string; running: boolean }> {
  const p = lab.background(S, [
    'dnsmasq', '-k', '--conf-file=/dev/null', '--port=0', '--user=root', '--interface=lan', '--bind-interfaces',
    '--dhcp-range=10.66.0.100,10.66.0.200,12h', `--dhcp-leasefile=${join(work, `${tag}.leases`)}`, `--pid-file=${join(work, `${tag}.pid`)}`,
  ]);
  let stderr = '';
  p.stderr!.on('data', (d) => (stderr += d));
  const exited = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), 1500);
    p.once('exit', (code) => (clearTimeout(timer), resolve(code)));
  });
  return { exited, stderr, running: exited === null && p.exitCode === null };
}

t.test('a second kickstand on the same interface is refused, naming the port and the interface', async (t) => {
  const first = await lab.dhcpServer(S, lanSpec);
  t.ok(first.alive, 'first server up');
  const err = await lab.dhcpServer(S, lanSpec).then(
    () => undefined,
    (e: Error) => e.message,
  );
  t.match(err, /DHCP port 67 on interface lan is already in use by node \(pid \d+\): another DHCP server/, 'second refused, the holder named');
  t.same(holders(), ['node'], 'one socket on 67');

  const other = await lab.dhcpServer(S, spec('other', '10.67.0.0/24', ['10.67.0.100', '10.67.0.200']));
  t.ok(other.alive, 'a kickstand on another interface of the same host starts');
  t.same(holders(), ['node', 'node'], 'one socket per interface');

  const d = await dnsmasq('after-kickstand');
  t.notOk(d.running, 'dnsmasq cannot bind 67 on an interface kickstand holds');
  t.match(d.stderr, /Address (already )?in use/);

  // The first server still answers a real client.
  sh(`ip -n ${C} link set eth0 address 02:00:00:66:00:01`);
  const r = await lab.run(C, ['busybox', 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '3', '-T', '1', '-s', '/bin/true'], 15_000);
  t.equal(r.code, 0, 'udhcpc got a lease');
  t.ok(((await first.stats()).replies.ACK ?? 0) >= 1, 'from the first kickstand');
  first.proc.kill('SIGTERM');
  other.proc.kill('SIGTERM');
  await Promise.all([first, other].map((h) => new Promise((ok) => (h.alive ? h.proc.once('exit', ok) : ok(null)))));
});

t.test('kickstand does not start on an interface where dnsmasq serves DHCP', async (t) => {
  const d = await dnsmasq('first');
  t.ok(d.running, `dnsmasq up: ${d.stderr}`);
  const err = await lab.dhcpServer(S, lanSpec).then(
    () => undefined,
    (e: Error) => e.message,
  );
  t.match(err, /DHCP port 67 on interface lan is already in use by dnsmasq \(pid \d+\)/);
  t.same(holders(), ['dnsmasq']);
});
