import t from 'tap';
import { Config } from '../../server/config/schema.js';
import { startDhcpServer, type DhcpServerOptions } from '../../server/dhcp/server.js';
import { MemoryLeases } from './memory-leases.js';

/** Start-up checks of the socket shell that need no socket: they fail before binding. */

function opts(dhcp: object): DhcpServerOptions {
  return {
    config: Config.parse({ dhcp }).dhcp,
    publicUrl: 'http://127.0.0.1:8080',
    directory: { byMac: async () => undefined },
    leases: new MemoryLeases(),
    sink: { report: () => {} },
  };
}

t.test('mode off starts nothing', async (t) => {
  const s = await startDhcpServer(opts({ mode: 'off' }));
  t.same(s.stats(), { received: 0, replies: {}, dropped: {}, queued: 0 });
  await s.close();
});

t.test('configuration errors are reported before binding', async (t) => {
  await t.rejects(startDhcpServer(opts({ mode: 'proxy' })), /dhcp.interface is required/);
  await t.rejects(startDhcpServer(opts({ mode: 'proxy', interface: 'ks-no-such-if0' })), /ks-no-such-if0 has no IPv4 address/);
  await t.rejects(startDhcpServer(opts({ mode: 'authoritative', interface: 'lo' })), /needs at least one dhcp.subnets entry/);
  await t.rejects(
    startDhcpServer(opts({ mode: 'authoritative', interface: 'lo', subnets: [{ cidr: '10.9.0.0/24', range: ['10.9.0.200', '10.9.0.100'] }] })),
    /not an ascending range inside the subnet/,
  );
  await t.rejects(
    startDhcpServer(opts({ mode: 'authoritative', interface: 'lo', subnets: [{ cidr: '10.9.0.0/24', range: ['10.9.0.10', '10.9.1.10'] }] })),
    /not an ascending range inside the subnet/,
  );
});
