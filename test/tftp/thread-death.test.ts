/**
 * The transfer thread dies (an uncaught exception, the heap limit): the transfers it ran end
 * `failed` with the reason, their open files are closed, the death is reported, and the next
 * transfer is served by a new worker. The worker is the real one (crashing-worker.ts wraps it and
 * dies on cue); clients are raw sockets that stall on purpose.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { open, readlink, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import t, { type Test } from 'tap';
import type { BodySource } from '../../server/tftp/body-source.js';
import { encodeAck } from '../../server/tftp/packet.js';
import type { TransferResult } from '../../server/tftp/transfer.js';
import { TransferThread } from '../../server/tftp/transfer-thread.js';
import type { TransferOrder } from '../../server/tftp/transfer-worker.js';
import { tempDir } from './fixture.js';
import { RawClient } from './raw-client.js';

async function client(t: Test): Promise<RawClient> {
  const c = await RawClient.open();
  t.teardown(() => c.close());
  return c;
}

/** A lock-step transfer to `c`, retransmitting every 5 s: a client that does not answer keeps it running. */
function order(c: RawClient, body: BodySource): TransferOrder {
  return { remote: { address: '127.0.0.1', port: c.port }, host: '127.0.0.1', type: 'udp4', body, sender: { blksize: 512, windowsize: 1, timeoutMs: 5000, retries: 5 } };
}

const text = (s: string): BodySource => ({ kind: 'memory', bytes: Buffer.from(s) });

/** Downloads a whole lock-step transfer as a real receiver would. */
async function download(c: RawClient): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let r = await c.next(2000); r?.packet?.op === 'data'; r = await c.next(2000)) {
    parts.push(r.packet.data);
    c.send(encodeAck(r.packet.block), r.port);
    if (r.packet.data.length < 512) break;
  }
  return Buffer.concat(parts);
}

/** After a death: a transfer started now is served whole, byte-exact, by a new worker, and ends `sent`. */
async function nextIsServed(t: Test, run: (name: string, o: TransferOrder) => void, ends: Map<string, TransferResult>): Promise<void> {
  const next = await client(t);
  const bytes = randomBytes(1300);
  run('next', order(next, { kind: 'memory', bytes }));
  t.ok((await download(next)).equals(bytes), 'the next transfer is served, byte-exact, by a new worker');
  for (const deadline = Date.now() + 2000; !ends.has('next') && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
  t.match(ends.get('next'), { outcome: 'sent', bytes: 1300 });
}

for (const [cue, why] of [
  ['throw', /^transfer thread died: crash on cue$/],
  ['oom', /^transfer thread died: .*memory limit/],
] as const) {
  t.test(`a worker that dies (${cue}): its transfers fail, their files close, the next transfer gets a new worker`, async (t) => {
    const deaths: Error[] = [];
    const thread = await TransferThread.start({ entry: new URL('./crashing-worker.ts', import.meta.url), tickMs: 20, onIgnored: () => {}, onDeath: (err) => deaths.push(err) });
    t.teardown(() => thread.close('test over'));
    const ends = new Map<string, TransferResult>();
    const run = (name: string, o: TransferOrder) => thread.start(o, (result) => ends.set(name, result));

    const dir = await tempDir(t);
    const file = path.join(dir, 'big.bin');
    await writeFile(file, randomBytes(4000));
    const handle = await open(file);
    const fd = handle.fd;
    const stalled = [await client(t), await client(t)];
    run('memory', order(stalled[0], text('x'.repeat(2000))));
    run('file', order(stalled[1], { kind: 'file', handle, size: 4000 }));
    for (const c of stalled) t.match((await c.next(2000))?.packet, { op: 'data', block: 1 }, 'both transfers running, unacknowledged');
    t.equal(await readlink(`/proc/self/fd/${fd}`), file, 'the file is open in the worker');

    const victim = await client(t);
    const diedAt = Date.now();
    run('cue', order(victim, text(cue)));
    for (const deadline = Date.now() + 10_000; ends.size < 3 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
    t.equal(ends.size, 3, `every transfer of the dead worker ended, in ${Date.now() - diedAt} ms`);
    for (const [name, end] of ends) t.match(end, { outcome: 'failed', reason: why, bytes: 0 }, `${name}: failed, with the reason`);
    t.equal(deaths.length, 1, `the death reported: ${deaths[0]?.message}`);
    const fdNow = await readlink(`/proc/self/fd/${fd}`).catch(() => 'closed');
    t.not(fdNow, file, `the file the dead worker held is closed (fd ${fd}: ${fdNow})`);

    await nextIsServed(t, run, ends);
    t.equal(deaths.length, 1, 'and it lives');
  });
}

t.test('compiled, a new worker after a death starts from the code read at start, though its build is gone (a private copy, removed at close)', async (t) => {
  // bin/build.mjs prunes a build a newer one replaced, while a service started from it may run on.
  const dir = await tempDir(t);
  const entry = path.join(dir, 'crashing-worker.mjs');
  await build({ entryPoints: [new URL('./crashing-worker.ts', import.meta.url).pathname], outfile: entry, bundle: true, packages: 'external', platform: 'node', format: 'esm', logLevel: 'silent' });
  const before = readdirSync(tmpdir());
  const deaths: Error[] = [];
  const thread = await TransferThread.start({ entry: pathToFileURL(entry), tickMs: 20, onIgnored: () => {}, onDeath: (err) => deaths.push(err) });
  t.teardown(() => thread.close('test over'));
  await rm(entry);

  const ends = new Map<string, TransferResult>();
  const run = (name: string, o: TransferOrder) => thread.start(o, (result) => ends.set(name, result));
  run('cue', order(await client(t), text('throw')));
  for (const deadline = Date.now() + 10_000; !deaths.length && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
  t.equal(deaths.length, 1, 'the worker died');

  await nextIsServed(t, run, ends);
  const copies = () => readdirSync(tmpdir()).filter((n) => n.startsWith('kickstand-tftp-') && !before.includes(n));
  t.equal(copies().length, 1, 'served from a private copy of the code');
  await thread.close('done');
  t.same(copies(), [], 'the copy is removed at close');
});
