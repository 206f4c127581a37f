import t from 'tap';
import { openPostgresStore } from '../../server/store/postgres.js';
import { postgresForTest } from '../helpers/postgres.js';
import { Lab, sh } from './netns.js';
import { killHolder, socketUrl } from './standby.js';

/**
 * Two kickstand DHCP servers on one PostgreSQL, as two hosts on one segment, with real clients:
 *
 *   rack-a (10.69.0.1) ──┐
 *   rack-b (10.69.0.2) ──┼── br0 ── client ns (udhcpc)
 *
 * rack-a holds the subnet and answers; rack-b (dhcp.standby) hears every broadcast and stays
 * silent. rack-a is killed with SIGKILL: rack-b answers within about a second, with the leases
 * rack-a gave (a client asking again keeps its address, another client gets another one). And a
 * lease written by another instance behind the holder's back is never handed out twice: the
 * store refuses the second lease and the ACK is withheld.
 */

const pg = await postgresForTest(t);
if (pg) {
  const url = await socketUrl(t, pg);
  const lab = new Lab('sb');
  t.teardown(() => lab.cleanup());
  const A = lab.ns('a');
  const B = lab.ns('b');
  const C = lab.ns('c');
  lab.bridge(lab.ns('br'), [A, B, C]);
  sh(`ip -n ${A} addr add 10.69.0.1/24 dev lan && ip -n ${B} addr add 10.69.0.2/24 dev lan`);

  const CIDR = '10.69.0.0/24';
  const spec = (instance: string, standby: boolean) => ({
    dhcp: { mode: 'authoritative', interface: 'lan', unknownMachines: 'local', standby, subnets: [{ cidr: CIDR, range: ['10.69.0.100', '10.69.0.139'], leaseSeconds: 600 }] },
    publicUrl: 'http://10.69.0.10:8080',
    postgres: { url, instance },
  });
  const udhcpc = async (mac: string, extra: string[] = []) => {
    sh(`ip -n ${C} link set lan address ${mac}`);
    const r = await lab.run(C, ['busybox', 'udhcpc', '-i', 'lan', '-f', '-q', '-n', '-t', '4', '-T', '1', '-s', 'test/dhcp/udhcpc-hook.sh', ...extra], 20_000);
    const line = r.stdout.split('\n').find((l) => l.startsWith('udhcpc bound:')) ?? '';
    return { ...r, ip: /\bip=(\S+)/.exec(line)?.[1], server: /\bserverid=(\S+)/.exec(line)?.[1] };
  };
  const store = await openPostgresStore(url);
  t.teardown(() => store.close());
  const M1 = '52:54:00:69:00:01';
  const M2 = '52:54:00:69:00:02';

  t.test('the holder answers, the standby is silent; after kill -9 the standby answers with the same leases', async (t) => {
    const a = await lab.dhcpServer(A, spec('rack-a', false));
    const b = await lab.dhcpServer(B, spec('rack-b', true));
    t.same(await a.roles(), { answering: [CIDR], standby: [] }, 'rack-a holds the subnet');
    t.same(await b.roles(), { answering: [], standby: [CIDR] }, 'rack-b waits for it');

    const first = await udhcpc(M1);
    t.equal(first.code, 0, first.stderr);
    t.match(first.ip, /^10\.69\.0\.1[0-3]\d$/, `the client got ${first.ip}`);
    t.equal(first.server, '10.69.0.1', 'from rack-a');
    const bStats = await b.stats();
    t.ok(bStats.received >= 2 && bStats.dropped.standby === bStats.received, `rack-b heard the broadcasts and answered none (${JSON.stringify(bStats)})`);
    t.same(bStats.replies, {}, 'no reply from the standby');

    const took = await killHolder(a, b, CIDR);
    t.ok(b.events.some((e) => e.message === `answering DHCP for ${CIDR}`), `rack-b says it answers the subnet now (${took} ms after the kill)`);
    t.ok(took < 3_000, 'within a few seconds');
    t.same(await b.roles(), { answering: [CIDR], standby: [] });

    const again = await udhcpc(M1);
    t.equal(again.code, 0, again.stderr);
    t.equal(again.server, '10.69.0.2', 'rack-b answers now');
    t.equal(again.ip, first.ip, "and the client keeps the address rack-a gave it (rack-b loaded rack-a's leases)");
    const other = await udhcpc(M2);
    t.equal(other.code, 0, other.stderr);
    t.not(other.ip, first.ip, `another client gets another address (${other.ip})`);

    const leases = await store.leases.list(CIDR);
    t.same(leases.filter((l) => l.state === 'bound').map((l) => [l.mac, l.ip]).sort(), [[M1, first.ip], [M2, other.ip]].sort(), 'one bound lease per client in the database');
    t.equal(new Set(leases.map((l) => l.ip)).size, leases.length, 'and no address twice');
    b.proc.kill('SIGTERM');
    await new Promise((r) => b.proc.once('exit', r));
  });

  t.test('an address another instance gave behind the holder’s back is not handed out twice', async (t) => {
    const a = await lab.dhcpServer(A, spec('rack-a2', false));
    // Free in rack-a's table, which it loaded at start: another instance gives it to M3 now.
    const taken = (await store.leases.list(CIDR)).map((l) => l.ip);
    const next = Array.from({ length: 40 }, (_, i) => `10.69.0.${100 + i}`).find((ip) => !taken.includes(ip))!;
    const M3 = '52:54:00:69:00:03';
    await store.leases.put({ mac: M3, ip: next, subnet: CIDR, state: 'bound', expiresAt: Date.now() + 600_000, updatedAt: Date.now() });

    const M4 = '52:54:00:69:00:04';
    const got = await udhcpc(M4);
    t.equal(got.code, 0, got.stderr);
    t.not(got.ip, next, `the client did not get ${next}, which M3 holds; it got ${got.ip}`);
    t.equal((await a.stats()).dropped['lease-held'], 1, 'the ACK for the refused lease was withheld (counted as lease-held)');
    t.equal((await store.leases.byIp(next))?.mac, M3, 'M3 keeps its address');
    t.equal((await store.leases.byMac(M4))?.ip, got.ip);
  });
}
