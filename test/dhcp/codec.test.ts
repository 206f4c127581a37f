import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDhcp, serializeDhcp, clientMac, type DhcpPacket } from '../../server/dhcp/codec.js';
import { readClientInfo, relayAgentInfo } from '../../server/dhcp/client-info.js';
import { decodeSubOptions, decodeUserClass, encodeSubOptions, Opt } from '../../server/dhcp/options.js';
import { classify, DEFAULT_BOOT_FILES } from '../../server/dhcp/classify.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/dhcp');
const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.hex'))
  .map((f) => ({ name: f, raw: Buffer.from(readFileSync(join(FIXTURES, f), 'utf8').trim(), 'hex') }));

function must(raw: Buffer): DhcpPacket {
  const r = parseDhcp(raw);
  if (!r.ok) throw new Error(`${r.error.reason}: ${r.error.detail}`);
  return r.packet;
}
function fixture(prefix: string): DhcpPacket {
  const f = fixtures.find((x) => x.name.startsWith(prefix));
  if (!f) throw new Error(`no fixture ${prefix}`);
  return must(f.raw);
}

t.test('every captured packet parses and serializes back to the same bytes', async (t) => {
  t.ok(fixtures.length >= 25, `${fixtures.length} fixtures`);
  for (const { name, raw } of fixtures) {
    const r = parseDhcp(raw);
    t.ok(r.ok, `${name} parses`);
    if (!r.ok) continue;
    t.ok(serializeDhcp(r.packet, raw.length).equals(raw), `${name} round-trips byte for byte`);
  }
});

t.test('udhcpc with BIOS PXE options', async (t) => {
  const info = readClientInfo(fixture('udhcpc-bios-01-client'));
  t.equal(info.type, 'DISCOVER');
  t.same(info.arch, [0]);
  t.equal(info.vendorClass, 'PXEClient:Arch:00000:UNDI:002001');
  t.equal(info.mac, '02:00:00:aa:00:01');
  t.same([...fixture('udhcpc-bios-01-client').options.get(Opt.CLIENT_NDI)!], [1, 2, 1]);
  t.equal(fixture('udhcpc-bios-01-client').options.get(Opt.CLIENT_UUID)!.toString('hex'), '001234567890abcdef1234567890abcdef');
  t.same(info.userClasses, []);
  t.equal(info.ipxeEncap, false);
});

t.test('udhcpc as UEFI HTTP client and as iPXE', async (t) => {
  const http = readClientInfo(fixture('udhcpc-http-01-client'));
  t.same(http.arch, [16]);
  t.match(http.vendorClass, /^HTTPClient/);
  const ipxe = readClientInfo(fixture('udhcpc-ipxe-01-client'));
  t.same(ipxe.userClasses, ['iPXE'], 'plain-string user class');
  const req = readClientInfo(fixture('udhcpc-uefi-03-client'));
  t.equal(req.type, 'REQUEST');
  t.equal(req.serverId, '10.231.0.1');
  t.equal(req.requestedIp, '10.231.0.80');
});

t.test("QEMU's iPXE announces itself with user class and option 175", async (t) => {
  const info = readClientInfo(fixture('qemu-ipxe-01-client'));
  t.equal(info.type, 'DISCOVER');
  t.same(info.userClasses, ['iPXE']);
  t.equal(info.ipxeEncap, true);
  t.same(info.arch, [0]);
  t.equal(info.mac, '52:54:00:aa:00:02');
  t.ok(decodeSubOptions(fixture('qemu-ipxe-01-client').options.get(Opt.IPXE_ENCAP)!), '175 holds valid sub-options');
  // dnsmasq's answer carries encap 176=1 (no-pxedhcp): our decoder reads a real server's 175.
  const offer = fixture('qemu-ipxe-02-server');
  t.same(decodeSubOptions(offer.options.get(Opt.IPXE_ENCAP)!)?.map(([c, d]) => [c, [...d]]), [[176, [1]]]);
  t.equal(offer.options.get(Opt.BOOTFILE)!.toString('latin1'), 'http://10.231.0.1:8080/boot.ipxe\0', 'dnsmasq puts the URL in option 67');
});

t.test('UEFI firmware: OVMF native PXE and the efi-virtio iPXE ROM', async (t) => {
  const opts = { publicUrl: 'http://10.231.0.1:8080', bootFiles: DEFAULT_BOOT_FILES };
  const native = readClientInfo(fixture('ovmf-pxe-01-client'));
  t.same(native.arch, [7]);
  t.equal(native.vendorClass, 'PXEClient:Arch:00007:UNDI:003000');
  t.match(classify(native, native.mac!, opts).boot, { kind: 'tftp', firmware: 'uefi-x64', file: 'ipxe.efi' });
  const ipxe = readClientInfo(fixture('qemu-uefi-ipxe-01-client'));
  t.equal(ipxe.ipxeEncap, true);
  t.match(classify(ipxe, ipxe.mac!, opts).boot, { kind: 'ipxe-script', firmware: 'uefi-x64', url: 'http://10.231.0.1:8080/boot/ipxe?mac=52:54:00:aa:00:03' });
});

t.test('dhclient, nmap and perfdhcp (relayed)', async (t) => {
  const d = readClientInfo(fixture('dhclient-01-client'));
  t.equal(d.type, 'DISCOVER');
  t.same(d.arch, []);
  t.equal(d.relayed, false);
  t.equal(readClientInfo(fixture('nmap-01-client')).type, 'DISCOVER', 'nmap broadcast-dhcp-discover');
  const p = fixture('perfdhcp-01-client');
  t.equal(readClientInfo(p).relayed, true);
  t.equal(p.giaddr, '10.231.0.9');
});

function basePacket(): DhcpPacket {
  return {
    op: 1, htype: 1, hlen: 6, hops: 0, xid: 0x01020304, secs: 0, flags: 0x8000,
    ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0',
    chaddr: Buffer.concat([Buffer.from('020000000001', 'hex'), Buffer.alloc(10)]),
    sname: '', file: '', options: new Map([[Opt.MESSAGE_TYPE, Buffer.from([1])]]),
  };
}

t.test('options longer than 255 bytes are split and joined again (RFC 3396)', async (t) => {
  const p = basePacket();
  const long = Buffer.alloc(600, 0x41);
  p.options.set(Opt.VENDOR_SPECIFIC, long);
  const wire = serializeDhcp(p);
  t.equal(wire[240 + 3], Opt.VENDOR_SPECIFIC);
  t.equal(wire[240 + 4], 255, 'first chunk 255 bytes');
  t.ok(must(wire).options.get(Opt.VENDOR_SPECIFIC)!.equals(long));
});

t.test('option overload (52) reads file then sname fields', async (t) => {
  const wire = serializeDhcp(basePacket());
  const opts = Buffer.from([Opt.MESSAGE_TYPE, 1, 1, Opt.OVERLOAD, 1, 3, Opt.END]);
  opts.copy(wire, 240);
  Buffer.from([Opt.HOSTNAME, 3, 0x61, 0x62, 0x63, Opt.END]).copy(wire, 108); // file
  Buffer.from([Opt.HOSTNAME, 2, 0x64, 0x65, Opt.PAD, Opt.END]).copy(wire, 44); // sname
  const p = must(wire);
  t.equal(p.options.get(Opt.HOSTNAME)!.toString(), 'abcde', 'file before sname, joined');
  t.equal(p.file, '');
  t.equal(p.sname, '');
  wire[240 + 5] = 4;
  t.match(parseDhcp(wire), { ok: false, error: { reason: 'bad-overload' } });
  wire[240 + 5] = 1;
  Buffer.from([Opt.HOSTNAME, 200, 0x61]).copy(wire, 108);
  t.match(parseDhcp(wire), { ok: false, error: { reason: 'option-truncated' } }, 'overrun inside the file field');
});

t.test('typed errors, never exceptions', async (t) => {
  const good = serializeDhcp(basePacket());
  t.match(parseDhcp(good.subarray(0, 239)), { ok: false, error: { reason: 'too-short' } });
  const badOp = Buffer.from(good);
  badOp[0] = 3;
  t.match(parseDhcp(badOp), { ok: false, error: { reason: 'bad-op' } });
  const badHlen = Buffer.from(good);
  badHlen[2] = 17;
  t.match(parseDhcp(badHlen), { ok: false, error: { reason: 'bad-hlen' } });
  const noCookie = Buffer.from(good);
  noCookie[236] = 0;
  t.match(parseDhcp(noCookie), { ok: false, error: { reason: 'no-magic-cookie' } });
  const trunc = Buffer.concat([good.subarray(0, 240), Buffer.from([Opt.HOSTNAME, 10, 0x61])]);
  t.match(parseDhcp(trunc), { ok: false, error: { reason: 'option-truncated' } });
  const noLen = Buffer.concat([good.subarray(0, 240), Buffer.from([Opt.HOSTNAME])]);
  t.match(parseDhcp(noLen), { ok: false, error: { reason: 'option-truncated' } });
  for (const [code, len] of [[Opt.MESSAGE_TYPE, 2], [Opt.REQUESTED_IP, 3], [Opt.CLIENT_ARCH, 3], [Opt.CLIENT_UUID, 16], [Opt.CLIENT_NDI, 2], [Opt.MAX_SIZE, 1], [Opt.SERVER_ID, 0]]) {
    const p = basePacket();
    p.options.set(code, Buffer.alloc(len, 1));
    t.match(parseDhcp(serializeDhcp(p)), { ok: false, error: { reason: 'option-length' } }, `option ${code} length ${len}`);
  }
  // Every prefix of a real PXE DISCOVER: a result each time, no throw.
  const real = fixtures.find((f) => f.name.startsWith('qemu-ipxe-01'))!.raw;
  for (let n = 0; n <= real.length; n++) t.doesNotThrow(() => parseDhcp(real.subarray(0, n)));
});

t.test('missing END at the end of the buffer is tolerated; bytes after END are padding', async (t) => {
  const p = serializeDhcp(basePacket());
  const noEnd = p.subarray(0, 243);
  t.equal(must(noEnd).options.get(Opt.MESSAGE_TYPE)![0], 1);
  const junk = Buffer.concat([p.subarray(0, 244), Buffer.from([0x0c, 0xff, 0xff])]);
  t.equal(must(junk).options.has(Opt.HOSTNAME), false);
});

t.test('user class: RFC 3004 list or plain string', async (t) => {
  t.same(decodeUserClass(Buffer.from('iPXE')), ['iPXE']);
  t.same(decodeUserClass(Buffer.from([4, 0x69, 0x50, 0x58, 0x45, 2, 0x61, 0x62])), ['iPXE', 'ab']);
  t.same(decodeUserClass(Buffer.from([4, 0x69, 0x50])), ['\x04iP'], 'prefix that overruns means plain string');
});

t.test('sub-options and relay agent information (82)', async (t) => {
  const enc = encodeSubOptions([[1, Buffer.from('eth0/1')], [2, Buffer.from([1, 2, 3])]]);
  t.same(decodeSubOptions(enc)?.map(([c, d]) => [c, d.toString('hex')]), [[1, Buffer.from('eth0/1').toString('hex')], [2, '010203']]);
  t.equal(decodeSubOptions(Buffer.from([1, 5, 1])), undefined);
  const p = basePacket();
  p.options.set(Opt.RELAY_AGENT, enc);
  t.ok(relayAgentInfo(must(serializeDhcp(p)))?.equals(enc));
  p.options.set(Opt.RELAY_AGENT, Buffer.from([1, 9, 0]));
  t.equal(relayAgentInfo(must(serializeDhcp(p))), undefined, 'malformed 82 is not echoed');
});

t.test('clientMac needs an Ethernet chaddr', async (t) => {
  const p = basePacket();
  t.equal(clientMac(p), '02:00:00:00:00:01');
  p.htype = 6;
  t.equal(clientMac(p), undefined);
});
