import t from 'tap';
import { clientMac, parseDhcp, rawClientMac } from '../../server/dhcp/codec.js';
import { PrefetchingDirectory } from '../../server/dhcp/prefetch.js';
import type { BootView } from '../../server/model/boot.js';
import { BIOS, request } from './packets.js';

const A = '52:54:00:aa:00:01';
const B = '52:54:00:aa:00:02';
const view = (mac: string) => ({ name: `m-${mac}`, macs: [mac] }) as unknown as BootView;

t.test('rawClientMac reads the MAC a parsed packet would give, before any parsing', async (t) => {
  const buf = request({ ...BIOS, type: 'DISCOVER', mac: A });
  const parsed = parseDhcp(buf);
  t.ok(parsed.ok);
  if (parsed.ok) t.equal(rawClientMac(buf), clientMac(parsed.packet));
  t.equal(rawClientMac(buf), A);
  t.equal(rawClientMac(buf.subarray(0, 100)), undefined, 'too short to be DHCP');
  const token = Buffer.from(buf);
  token[1] = 6;
  t.equal(rawClientMac(token), undefined, 'not Ethernet (htype 6)');
  const long = Buffer.from(buf);
  long[2] = 16;
  t.equal(rawClientMac(long), undefined, 'not a 6-byte hardware address');
});

t.test('lookups start at arrival, each is used once, and an unused one is not kept', async (t) => {
  const calls: string[] = [];
  const waiting = new Map<string, () => void>();
  const dir = new PrefetchingDirectory({
    byMac: (mac) => {
      calls.push(mac);
      return new Promise<BootView | undefined>((resolve) => waiting.set(mac, () => resolve(view(mac))));
    },
  });
  const a1 = dir.arrived(request({ ...BIOS, type: 'DISCOVER', mac: A }));
  const b1 = dir.arrived(request({ ...BIOS, type: 'DISCOVER', mac: B }));
  const a2 = dir.arrived(request({ ...BIOS, type: 'REQUEST', mac: A }));
  t.same(calls, [A, B], 'both lookups under way before any decision; the second packet of A shares the first');
  t.equal(a2, undefined);
  t.equal(dir.arrived(Buffer.from('not dhcp')), undefined, 'nothing read from a runt');

  const decidingA = dir.byMac(A);
  waiting.get(A)!();
  t.same(await decidingA, view(A), "A's decision gets the lookup started at arrival");
  dir.decided(a1);
  const again = dir.byMac(A);
  t.same(calls, [A, B, A], "A's second packet looks up afresh (what it prefetched was used)");
  waiting.get(A)!();
  await again;
  dir.decided(a2);

  // B is dropped before its lookup (a relay nobody configured): its lookup is not kept.
  dir.decided(b1);
  const laterB = dir.byMac(B);
  t.same(calls, [A, B, A, B], 'a later packet of B does not get the stale one');
  waiting.get(B)!();
  await laterB;
});

t.test('a failed lookup nobody used is no unhandled rejection; one used rejects its decision', async (t) => {
  const dir = new PrefetchingDirectory({ byMac: () => Promise.reject(new Error('store down')) });
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => void process.off('unhandledRejection', onUnhandled));
  const a = dir.arrived(request({ ...BIOS, type: 'DISCOVER', mac: A }));
  const b = dir.arrived(request({ ...BIOS, type: 'DISCOVER', mac: B }));
  await t.rejects(dir.byMac(A), /store down/);
  dir.decided(a);
  dir.decided(b);
  await new Promise((r) => setTimeout(r, 20));
  t.same(unhandled, []);
});
