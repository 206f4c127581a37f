/** Sends fuzz packets at a DHCP server: node --import tsx test/dhcp/blast.ts SEED COUNT HOST PORT[,PORT…] */
import { createSocket } from 'node:dgram';
import { fuzzPacket, rng } from './fuzz-packets.js';

const [seed, count, host, ports] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4], process.argv[5].split(',').map(Number)];
const r = rng(seed);
const s = createSocket('udp4');
await new Promise<void>((ok) => s.bind(0, ok));
s.setBroadcast(true);
let sent = 0;
for (let i = 0; i < count; i++) {
  const pkt = fuzzPacket(r);
  await new Promise<void>((ok) => s.send(pkt, ports[i % ports.length], host, () => ok()));
  sent++;
  // Pace in small bursts so the test measures robustness, not the kernel's receive buffer.
  if (i % 200 === 199) await new Promise((ok) => setTimeout(ok, 5));
}
s.close();
process.stdout.write(JSON.stringify({ sent }) + '\n');
