import t from 'tap';
import { DEFAULT_BOOT_FILES } from '../../server/dhcp/classify.js';
import { parseDhcp, serializeDhcp } from '../../server/dhcp/codec.js';
import { createHandler, type HandlerOptions } from '../../server/dhcp/handler.js';
import { LeaseTable } from '../../server/dhcp/lease-table.js';
import { Opt } from '../../server/dhcp/options.js';
import { Pool } from '../../server/dhcp/pool.js';
import { fuzzPacket, rng } from './fuzz-packets.js';
import { Lab, sh } from './netns.js';
import { BIOS, request } from './packets.js';

const view = { name: 'fz', macs: [], netboot: 'install', state: 'pxe-booting', firmware: 'bios', arch: 'x86_64', os: 'rocky-9' } as const;

function options(mode: 'proxy' | 'authoritative'): HandlerOptions {
  return {
    mode,
    serverAddress: '10.65.0.1',
    tftpServer: '10.65.0.1',
    publicUrl: 'http://10.65.0.1:8080',
    bootFiles: DEFAULT_BOOT_FILES,
    unknownMachines: 'local',
    ports: { server: 67, proxy: 4011, client: 68 },
    // Every third MAC is a known machine, so both branches of the directory are exercised.
    directory: { byMac: async (mac) => (mac.endsWith('0') || mac.endsWith('3') || mac.endsWith('6') ? { ...view, macs: [mac] } : undefined) },
    pools: [new Pool({ cidr: '10.65.0.0/16', range: ['10.65.1.0', '10.65.255.200'], dns: [], leaseSeconds: 60 })],
    leases: mode === 'authoritative' ? new LeaseTable() : undefined,
  };
}

t.test('120,000 random and mutated packets against the pure handler', async (t) => {
  const r = rng(20260601);
  const outcomes: Record<string, number> = {};
  let replies = 0;
  let badReplies = 0;
  let thrown = 0;
  const handlers = [createHandler(options('proxy')), createHandler(options('authoritative'))];
  const N = 120_000;
  for (let i = 0; i < N; i++) {
    const h = handlers[i & 1];
    const port = i % 3 === 0 ? 4011 : 67;
    try {
      const ex = await h(fuzzPacket(r), port, { address: '10.65.0.9', port: 68 });
      const key = ex.dropped ?? 'replied';
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      for (const rep of ex.replies) {
        replies++;
        const back = parseDhcp(serializeDhcp(rep.packet));
        if (!back.ok || back.packet.op !== 2 || !back.packet.options.has(Opt.SERVER_ID)) badReplies++;
      }
    } catch {
      thrown++;
    }
  }
  t.equal(thrown, 0, 'the handler never throws');
  t.equal(badReplies, 0, 'every reply is a well-formed BOOTREPLY with a server id');
  t.ok(replies > 1000, `fuzzing reached the decision code (${replies} replies)`);
  t.ok(Object.keys(outcomes).filter((k) => k.startsWith('malformed-')).length >= 4, `several parse errors exercised: ${JSON.stringify(outcomes)}`);
  const after = await handlers[1](request({ type: 'DISCOVER', mac: '52:54:00:65:00:01', ...BIOS }), 67, { address: '0.0.0.0', port: 68 });
  t.equal(after.replies.length, 1, 'still answers a well-formed DISCOVER afterwards');
});

t.test('socket burst at 67 and 4011, then a real client', async (t) => {
  const lab = new Lab('fz');
  t.teardown(() => lab.cleanup());
  const S = lab.ns('s');
  const C = lab.ns('c');
  lab.link(S, 'lan', C, 'eth0');
  sh(`ip -n ${S} addr add 10.65.0.1/16 dev lan && ip -n ${C} addr add 10.65.0.9/16 dev eth0 && ip -n ${C} route add default dev eth0`);
  const server = await lab.dhcpServer(S, { dhcp: { mode: 'proxy', interface: 'lan', unknownMachines: 'local' }, publicUrl: 'http://10.65.0.1:8080' });
  const COUNT = 20_000;
  const burst = [
    lab.run(C, [process.execPath, '--import', 'tsx', 'test/dhcp/blast.ts', '7', String(COUNT / 2), '10.65.0.1', '67,4011'], 60_000),
    lab.run(C, [process.execPath, '--import', 'tsx', 'test/dhcp/blast.ts', '8', String(COUNT / 2), '255.255.255.255', '67'], 60_000),
  ];
  const results = await Promise.all(burst);
  for (const b of results) t.equal(b.code, 0, b.stderr);
  await new Promise((r) => setTimeout(r, 500));
  const stats = await server.stats();
  t.ok(server.alive, 'server survived');
  // Under a flood on shared cores the veth backlog and the socket buffer shed some packets
  // (kernel behaviour, not the server's); what must hold is that a large share was read,
  // parsed and counted without the process dying.
  t.ok(stats.received >= COUNT / 4, `${stats.received} of ${COUNT} packets reached the handler`);
  const malformed = Object.entries(stats.dropped).filter(([k]) => k.startsWith('malformed-')).reduce((n, [, v]) => n + v, 0);
  t.ok(malformed > COUNT / 4, `malformed packets dropped and counted (${malformed})`);

  const mac = '02:00:00:65:00:77';
  sh(`ip -n ${C} link set eth0 address ${mac}`);
  await lab.run(C, ['busybox', 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '2', '-T', '1', '-s', '/bin/true', '-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000'], 10_000);
  t.match(server.events.find((e) => e.mac === mac), { data: { reply: 'OFFER', boot: 'undionly.kpxe' } }, 'real client answered after the burst');
  t.ok(server.alive);
});
