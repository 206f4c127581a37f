/**
 * Sends hand-made DHCP requests from a namespace and prints what comes back, for tests that play
 * a client forging what a real one never sends (another MAC's RELEASE, a stray relay's giaddr):
 *   node --import tsx test/dhcp/forge.ts '{"to":"10.0.0.1","packets":[RequestSpec…],"waitMs":300}'
 * Binds port 68 (as clients do) unless "port" is given; prints one JSON line {replies:[{type,yiaddr}]}.
 */
import { createSocket } from 'node:dgram';
import { parseDhcp } from '../../server/dhcp/codec.js';
import { messageTypeName, Opt } from '../../server/dhcp/options.js';
import { request, type RequestSpec } from './packets.js';

const spec = JSON.parse(process.argv[2]) as { to: string; toPort?: number; port?: number; packets: RequestSpec[]; waitMs?: number };
const s = createSocket({ type: 'udp4', reuseAddr: true });
const replies: Array<{ type?: string; yiaddr: string }> = [];
s.on('message', (buf) => {
  const p = parseDhcp(buf);
  if (p.ok) replies.push({ type: messageTypeName(p.packet.options.get(Opt.MESSAGE_TYPE)?.[0]), yiaddr: p.packet.yiaddr });
});
await new Promise<void>((ok) => s.bind(spec.port ?? 68, ok));
s.setBroadcast(true);
for (const p of spec.packets) {
  const relayAgent = (p as { relayAgentHex?: string }).relayAgentHex;
  await new Promise<void>((ok) => s.send(request({ ...p, ...(relayAgent ? { relayAgent: Buffer.from(relayAgent, 'hex') } : {}) }), spec.toPort ?? 67, spec.to, () => ok()));
}
await new Promise((ok) => setTimeout(ok, spec.waitMs ?? 300));
s.close();
process.stdout.write(JSON.stringify({ replies }) + '\n');
