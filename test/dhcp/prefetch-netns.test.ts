import t from 'tap';
import { Lab, sh } from './netns.js';

/**
 * A burst of DHCP through a relay (perfdhcp) against a server whose directory lookups take 25 ms
 * each, as a store over a busy network does: the lookups of the next packets waiting in the queue
 * run side by side (server/dhcp/prefetch.ts), so the burst is answered, where one lookup after the
 * other would cap the server at 40 packets a second; and no more of them than the window.
 */
const lab = new Lab('pf');
t.teardown(() => lab.cleanup());
const S = lab.ns('s');
const C = lab.ns('c');
lab.link(S, 'lan', C, 'eth0');
sh(`ip -n ${S} addr add 10.64.0.1/24 dev lan && ip -n ${C} addr add 10.64.0.9/24 dev eth0`);

t.test('a burst of DHCP with slow directory lookups: looked up side by side, all answered', async (t) => {
  const server = await lab.dhcpServer(S, {
    dhcp: {
      mode: 'authoritative',
      interface: 'lan',
      unknownMachines: 'local',
      relays: ['10.64.0.9'],
      subnets: [{ cidr: '10.64.0.0/24', range: ['10.64.0.10', '10.64.0.254'], gateway: '10.64.0.1', dns: [], leaseSeconds: 600 }],
    },
    publicUrl: 'http://10.64.0.1:8080',
    directoryMs: 25,
    quiet: true,
  });
  // 100 clients at 200/s: 200 lookups in about half a second; one at a time they would take 5 s.
  // -W: perfdhcp waits 2 s after its last request for the answers still on their way.
  const r = await lab.run(C, ['perfdhcp', '-4', '-l', 'eth0', '-r', '200', '-n', '100', '-R', '100', '-p', '5', '-W', '2000000', '10.64.0.1'], 20_000);
  const stat = (section: string, what: string) => Number(new RegExp(`${section}\\*+\\n[\\s\\S]*?${what}: (\\d+)`).exec(r.stdout)?.[1]);
  t.equal(stat('DISCOVER-OFFER', 'sent packets'), 100, r.stdout);
  t.equal(stat('REQUEST-ACK', 'received packets'), 100, 'every client got its ACK');
  const lookups = await server.lookups();
  t.equal(lookups.made, 200, 'one lookup per packet');
  t.ok(lookups.mostAtOnce >= 4, `lookups ran side by side: up to ${lookups.mostAtOnce} at once`);
  // A flood must leave the store's connections to the lease commits: the next 8 packets' lookups
  // (server.ts LOOKAHEAD) and the one being decided, no more.
  t.ok(lookups.mostAtOnce <= 9, `never more than 9 at once (${lookups.mostAtOnce})`);
});
