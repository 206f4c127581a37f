/**
 * A transfer slot with the shipped defaults, through the whole service (config → main → TFTP): a
 * client that vanishes before its final ACK holds its slot (retries + 1) × timeout = 6 s, with
 * its final block retransmitted meanwhile; a real client that asks then is told the server is
 * busy, and is served once the slot is free.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { Config } from '../../server/config/schema.js';
import { encodeRequest } from '../../server/tftp/packet.js';
import { startTestService } from '../helpers/service.js';
import { attempt, tempDir, until } from './fixture.js';
import { RawClient } from './raw-client.js';

t.test('a client gone before its final ACK frees the only slot within 6 s (the defaults: 5 retries, 1 s apart)', async (t) => {
  t.match(Config.parse({}).tftp, { timeoutSeconds: 1, retries: 5, maxTransfers: 256, maxTransfersPerAddress: 8 }, 'the shipped defaults');
  const root = await tempDir(t);
  const bytes = randomBytes(300);
  await writeFile(path.join(root, 'ipxe.efi'), bytes);
  // A fixed port: the service does not tell its TFTP port; a collision fails the start loudly.
  const port = 41000 + (process.pid % 19000);
  const env = await startTestService(t, { config: { tftp: { enabled: true, host: '127.0.0.1', port, root, symlinkDirs: [], maxTransfers: 1 } } });

  const gone = await RawClient.open('127.0.0.3');
  t.teardown(() => gone.close());
  const start = Date.now();
  gone.send(encodeRequest('rrq', 'ipxe.efi', 'octet'), port);
  const copies: number[] = [];
  const watch = (async () => {
    for (let r = await gone.next(2500); r; r = await gone.next(2500)) if (r.packet?.op === 'data') copies.push(Date.now() - start);
  })();
  await until(() => copies.length === 1);

  const refused = await attempt('busybox', ['tftp', '-g', '-r', 'ipxe.efi', '-l', '/dev/null', '127.0.0.1', String(port)]);
  t.not(refused.code, 0, 'a real client asking meanwhile is refused');
  t.match(refused.stderr, /Server busy, try again/, `and says why: ${refused.stderr.trim()}`);

  let served: { code: number; stdout: string } | undefined;
  while (Date.now() - start < 9_000) {
    served = await attempt('curl', ['-sS', '-m', '1', '-o', '/dev/null', '-w', '%{size_download}', `tftp://127.0.0.1:${port}/ipxe.efi`]);
    if (served.code === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const freedAfter = Date.now() - start;
  t.equal(served?.stdout, '300', `curl is served ${freedAfter} ms after the vanished client's request`);
  t.ok(freedAfter < 8_000, 'within (5 + 1) × 1 s, with room for a busy machine: not a 30 s idle timeout');
  await watch;
  const gaps = copies.slice(1).map((c, i) => c - copies[i]);
  t.equal(copies.length, 6, `the final block went out once and was retransmitted 5 times (at ${copies.join(', ')} ms)`);
  t.ok(gaps.every((g) => g > 900 && g < 1_500), `1 s apart: ${gaps.join(', ')} ms`);
  // Events reach the store in batches.
  let record: { kind: string; ip?: string; message: string } | undefined;
  for (const deadline = Date.now() + 3_000; !record && Date.now() < deadline; await new Promise((r) => setTimeout(r, 50)))
    record = (await env.svc.store.events.list({})).find((e) => e.kind === 'tftp' && e.ip === '127.0.0.3' && / sent /.test(e.message));
  t.match(record?.message, /ipxe\.efi sent 300 bytes in \d+ ms, the final ACK never came: no ACK after 5 retransmissions 1000 ms apart/, 'on the record as unacknowledged');
});
