// The least a Node TFTP sender can do per datagram: lock-step, octet, blksize/tsize only, no
// checks, no events, no timers. Not a server to use; bench/tftp/run.sh measures its CPU per
// transfer next to kickstand's to separate the cost of Node's dgram layer from kickstand's code.
// Usage: node node-floor.mjs FILE PORT
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';

const [file, port] = process.argv.slice(2);
const data = readFileSync(file);
const main = dgram.createSocket('udp4');
main.on('message', (msg, rinfo) => {
  const fields = msg.toString('latin1', 2).split('\0');
  let blksize = 512;
  const oack = [];
  for (let i = 2; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'blksize') (blksize = Number(fields[i + 1])), oack.push('blksize', fields[i + 1]);
    if (fields[i] === 'tsize') oack.push('tsize', String(data.length));
  }
  const total = Math.floor(data.length / blksize) + 1;
  const s = dgram.createSocket('udp4');
  const send = (b) => {
    const h = Buffer.from([0, 3, (b >> 8) & 0xff, b & 0xff]);
    s.send([h, data.subarray((b - 1) * blksize, Math.min(b * blksize, data.length))]);
  };
  s.on('message', (m) => {
    const block = m.readUInt16BE(2);
    if (block === (total & 0xffff)) s.close();
    else send(block + 1);
  });
  s.bind(0, '127.0.0.1', () =>
    s.connect(rinfo.port, rinfo.address, () => (oack.length ? s.send(Buffer.from(`\0\x06${oack.join('\0')}\0`, 'latin1')) : send(1))),
  );
});
main.bind(Number(port), '127.0.0.1');
