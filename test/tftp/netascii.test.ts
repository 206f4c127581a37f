/**
 * Netascii read requests: the bytes on the wire are tftpd-hpa's, block after block, whatever the
 * block size and wherever a CR LF / CR NUL expansion falls on a block boundary; the clients that
 * convert back (tftp-hpa, atftp) write the file as it is on disk; no tsize is offered (as
 * tftpd-hpa); and a server converting many large files at once stays flat in memory, because the
 * conversion streams block by block instead of copying each file whole per transfer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { MemoryBody } from '../../server/tftp/body.js';
import { NetasciiBody, toNetascii } from '../../server/tftp/netascii.js';
import { encodeAck, encodeRequest } from '../../server/tftp/packet.js';
import { run, tempDir, until, withServer } from './fixture.js';
import { RawClient } from './raw-client.js';

const CR = 0x0d;
const LF = 0x0a;
const ROOT_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/**
 * Text whose netascii form has an expansion cut by every `blk` boundary, `blocks` times: the CR
 * lands on the last byte of a block, its LF or NUL opens the next. Between them, letters and NULs
 * (which netascii leaves alone), CR LF pairs, lone CRs and runs of newlines.
 */
function boundaryText(blk: number, blocks: number): Buffer {
  const raw: number[] = [];
  let out = 0;
  const push = (b: number) => {
    raw.push(b);
    out += b === CR || b === LF ? 2 : 1;
  };
  const cut = [[LF], [CR], [CR, LF], [CR, CR], [LF, LF], [LF, CR]];
  const filler = [[0x41], [0x62], [0x00], [CR, LF], [LF], [CR]];
  for (let k = 1; k <= blocks; k++) {
    for (let i = 0; out < k * blk - 1; i++) {
      const f = filler[(i * 7 + k) % filler.length];
      const cost = f.reduce((n, b) => n + (b === CR || b === LF ? 2 : 1), 0);
      for (const b of out + cost <= k * blk - 1 ? f : [0x7a]) push(b);
    }
    for (const b of cut[k % cut.length]) push(b);
  }
  return Buffer.from(raw);
}

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** tftpd-hpa serving `root` on a loopback port, stopped at teardown. */
async function tftpdHpa(t: Test, root: string): Promise<number> {
  const port = await freeUdpPort();
  await chmod(root, 0o755); // tftpd-hpa drops to its own user, which must reach the files
  const proc = spawn('in.tftpd', ['-L', '-4', '-a', `127.0.0.1:${port}`, '-s', root], { stdio: 'ignore' });
  t.teardown(() => void proc.kill('SIGTERM'));
  await writeFile(path.join(root, 'ping'), 'pong');
  await until(() => proc.exitCode === null, 1000);
  for (let i = 0; ; i++) {
    const r = await run('curl', ['-sS', '--max-time', '1', `tftp://127.0.0.1:${port}/ping`]).catch(() => undefined);
    if (r?.stdout === 'pong') return port;
    if (i > 50) throw new Error('tftpd-hpa did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('NetasciiBody: block reads, resends and discards give the whole-file conversion', async (t) => {
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  let mismatches = 0;
  let rewinds = 0;
  for (let trial = 0; trial < 500; trial++) {
    const raw = Buffer.from(Array.from({ length: rand(3000) }, () => (rand(2) ? [CR, LF, 0, 0x41][rand(4)] : rand(256))));
    const want = toNetascii(raw);
    const blk = 1 + rand(600);
    const body = new NetasciiBody(new MemoryBody(raw), want.length);
    const got: Buffer[] = [];
    for (let start = 0; start <= want.length; start += blk) {
      body.discard(start); // the sender's window starts here: everything before is acknowledged
      const block = Buffer.from(body.read(start, start + blk) as Buffer);
      if (rand(4) === 0 && !(body.read(start, start + blk) as Buffer).equals(block)) mismatches++; // a retransmission
      got.push(block);
    }
    if (!Buffer.concat(got).equals(want)) mismatches++;
    rewinds += body.rewinds;
  }
  t.equal(mismatches, 0, '500 random files and block sizes');
  t.equal(rewinds, 0, 'never converted twice');
  const body = new NetasciiBody(new MemoryBody(Buffer.from('a\nb\nc\n')), 9);
  t.same(body.read(3, 6), Buffer.from('b\r\n'));
  body.discard(6);
  t.same(body.read(0, 3), Buffer.from('a\r\n'), 'a read behind a discard starts over rather than failing');
  t.equal(body.rewinds, 1);
});

t.test('netascii bytes are tftpd-hpa’s at every block size, cached or streamed', async (t) => {
  const files = {
    // 40 blocks of 512 with a cut expansion at each boundary; cached (under cacheMaxFileBytes).
    'small.txt': boundaryText(512, 40),
    // Larger than the cache limit below: streamed from disk through the read-ahead buffer.
    'large.txt': boundaryText(512, 700),
    // Dense random CR/LF/NUL, cut anywhere by the odd block sizes.
    'dense.txt': Buffer.from([...randomBytes(30_000)].map((b) => [CR, LF, 0, CR, LF, 0x61][b % 6] ?? b)),
    // Ends with a CR cut by the first boundary: its NUL is alone in the last block.
    'tail.txt': Buffer.concat([Buffer.alloc(509, 0x61), Buffer.from([LF, CR])]),
    // Exactly two blocks of 512 once converted: an empty third block ends the transfer.
    'exact.txt': Buffer.concat([Buffer.alloc(1022, 0x61), Buffer.from([LF])]),
    'empty.txt': Buffer.alloc(0),
  };
  const f = await withServer(t, { cacheMaxFileBytes: 100_000 });
  for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(f.root, name), bytes);
  t.ok(files['large.txt'].length > 100_000, 'large.txt is streamed, not cached');
  const hpa = await tftpdHpa(t, f.root);
  const out = await tempDir(t);
  let n = 0;
  // curl -B asks for netascii and writes what arrives unconverted: the wire bytes themselves.
  const wire = async (port: number, name: string, extra: string[]) => {
    const dest = path.join(out, `w${n++}`);
    await run('curl', ['-sS', '-B', ...extra, '-o', dest, `tftp://127.0.0.1:${port}/${name}`]);
    return readFile(dest);
  };
  for (const [name, raw] of Object.entries(files)) {
    if (raw.length === 0) continue; // curl refuses the OACK of an empty file elsewhere; covered by tftp-hpa below
    const reference = await wire(hpa, name, ['--tftp-no-options']);
    t.ok(reference.equals(toNetascii(raw)), `${name}: tftpd-hpa's netascii is the RFC 1350 form (${reference.length} bytes)`);
    for (const blk of [undefined, 8, 9, 511, 512, 1468, 65464]) {
      const got = await wire(f.server.port, name, blk ? ['--tftp-blksize', String(blk)] : ['--tftp-no-options']);
      t.ok(got.equals(reference), `${name}, blksize ${blk ?? 'default'}: same bytes as tftpd-hpa (${got.length}/${reference.length})`);
    }
    // Clients that convert back write the file as it is on disk.
    const hpaCopy = path.join(out, `h${n++}`);
    await run('tftp', ['-m', 'netascii', '127.0.0.1', String(f.server.port), '-c', 'get', name, hpaCopy]);
    t.ok((await readFile(hpaCopy)).equals(raw), `${name}: tftp-hpa -m netascii writes the original`);
    const atftpCopy = path.join(out, `a${n++}`);
    await atftp(f.server.port, name, atftpCopy);
    t.ok((await readFile(atftpCopy)).equals(raw), `${name}: atftp mode netascii (windowsize 4) writes the original`);
  }
  const emptyCopy = path.join(out, 'empty');
  await run('tftp', ['-m', 'netascii', '127.0.0.1', String(f.server.port), '-c', 'get', 'empty.txt', emptyCopy]);
  t.equal((await readFile(emptyCopy)).length, 0, 'empty file');
  await until(() => f.server.stats().active === 0);
  t.match(f.server.stats(), { failed: 0, active: 0 });
});

async function atftp(port: number, name: string, dest: string): Promise<void> {
  const p = spawn('atftp', ['127.0.0.1', String(port)], { stdio: ['pipe', 'ignore', 'ignore'] });
  p.stdin.end(`mode netascii\noption blksize 1468\noption windowsize 4\nget ${name} ${dest}\nquit\n`);
  await new Promise((resolve) => p.once('exit', resolve));
}

t.test('no tsize in a netascii OACK (tftpd-hpa does not offer it either); octet still gets it', async (t) => {
  const f = await withServer(t);
  await writeFile(path.join(f.root, 'motd'), 'a\nb\n');
  const c = await RawClient.open();
  t.teardown(() => c.close());
  const ask = async (mode: string) => {
    c.send(encodeRequest('rrq', 'motd', mode, new Map([['tsize', '0'], ['blksize', '512']])), f.server.port);
    const oack = await c.next(1000);
    if (oack) c.send(encodeAck(0), oack.port);
    const data = await c.next(1000);
    if (data) c.send(encodeAck(1), data.port);
    return { oack: oack?.packet, data: data?.packet };
  };
  const na = await ask('netascii');
  t.match(na.oack, { op: 'oack' });
  t.same(na.oack?.op === 'oack' && [...na.oack.options], [['blksize', '512']], 'netascii: blksize accepted, tsize left out');
  t.match(na.data, { op: 'data', block: 1, data: Buffer.from('a\r\nb\r\n') });
  const octet = await ask('octet');
  t.same(octet.oack?.op === 'oack' && [...octet.oack.options], [['tsize', '4'], ['blksize', '512']], 'octet: tsize offered');
});

/** A server in its own process; returns its port, its pid and a way to read its stats. */
async function childServer(t: Test, root: string): Promise<{ port: number; pid: number; proc: ChildProcess }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'test/tftp/memory-server.ts', root], { cwd: ROOT_DIR, stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => void proc.kill('SIGKILL'));
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`memory-server exited ${code}`)));
  });
  const { port, pid } = JSON.parse(first) as { port: number; pid: number };
  return { port, pid, proc };
}

async function status(pid: number): Promise<{ rss: number; hwm: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Mostly letters, a newline every 4 KiB and a CR every 12 KiB: every block needs converting, cheaply. */
function sparseText(size: number): Buffer {
  const b = Buffer.alloc(size, 0x78);
  for (let i = 0; i < size; i += 4096) b[i] = LF;
  for (let i = 7; i < size; i += 12_289) b[i] = CR;
  return b;
}

const MB = 1 << 20;

for (const [label, size] of [
  ['16 MiB (cached)', 16 * MB],
  ['64 MiB (streamed from disk)', 64 * MB],
] as const) {
  t.test(`40 concurrent netascii downloads of a ${label} file: memory stays flat`, async (t) => {
    const root = await tempDir(t);
    const text = sparseText(size);
    const wireSize = toNetascii(text).length;
    await writeFile(path.join(root, 'big.txt'), text);
    const server = await childServer(t, root);
    await new Promise((r) => setTimeout(r, 500));
    const before = await status(server.pid);
    const started = Date.now();
    const downloads = Array.from({ length: 40 }, () =>
      run('curl', ['-sS', '-B', '--tftp-blksize', '65464', '-o', '/dev/null', '-w', '%{size_download}', `tftp://127.0.0.1:${server.port}/big.txt`], { timeout: 60_000 }).then(
        (r) => Number(r.stdout),
        (err: Error) => err.message,
      ),
    );
    const sizes = await Promise.all(downloads);
    const after = await status(server.pid);
    const growth = (after.hwm - before.rss) / MB;
    t.same(sizes, Array(40).fill(wireSize), `every client got all ${wireSize} netascii bytes`);
    t.ok(growth < 100, `peak RSS grew ${growth.toFixed(0)} MB (${(before.rss / MB).toFixed(0)} → ${(after.hwm / MB).toFixed(0)} MB) for 40 × ${label}, in ${Date.now() - started} ms`);
    t.comment(`RSS ${(before.rss / MB).toFixed(0)} MB before, peak ${(after.hwm / MB).toFixed(0)} MB`);
  });
}
