/**
 * The transfer thread as operators run it: bin/kickstand compiles the entry (bin/build.mjs) and
 * the worker's code is built beside it, its sources part of the build's key; or, when no build is
 * possible, the sources run through tsx, in the worker too. The entry is the TFTP server alone
 * (memory-server.ts), in a copy of the tree; real clients, and the process's memory seen from
 * /proc: a thousand PXE boots fetching one file must not cost a copy of it each.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { cleanEnv } from '../helpers/env.js';
import { encodeRequest } from '../../server/tftp/packet.js';
import type { TftpStats } from '../../server/tftp/server.js';
import { run, tempDir, until } from './fixture.js';
import { RawClient } from './raw-client.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const ENTRY = 'test/tftp/memory-server.ts';
const MB = 1 << 20;
/** The size of iPXE's ipxe.efi, which every UEFI machine of a boot storm fetches. */
const IPXE_BYTES = 850_000;

/** A copy of what the build reads, in `dir`. */
function copyTree(dir: string): void {
  for (const f of ['bin', 'server', 'package.json', 'tsconfig.json']) cpSync(path.join(ROOT, f), path.join(dir, f), { recursive: true, preserveTimestamps: true });
  mkdirSync(path.join(dir, 'test', 'tftp'), { recursive: true });
  cpSync(path.join(ROOT, ENTRY), path.join(dir, ENTRY));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
}

interface Served {
  port: number;
  pid: number;
  stderr: () => string;
  stats(): Promise<TftpStats>;
}

/**
 * `KICKSTAND_ENTRY=memory-server.ts bin/kickstand ROOT CACHE_MAX` in `dir`, until its first line
 * says where it listens; without tap's NODE_OPTIONS (its loader), so its memory is an operator's.
 */
async function serve(t: Test, dir: string, root: string, cacheMax: number): Promise<Served> {
  // tap puts its loader back into a child's NODE_OPTIONS; env(1) takes it out again.
  const proc = spawn('env', ['-u', 'NODE_OPTIONS', path.join(dir, 'bin', 'kickstand'), root, String(cacheMax)], { cwd: dir, env: cleanEnv({ KICKSTAND_ENTRY: ENTRY }), stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => void proc.kill('SIGKILL'));
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const lines = createInterface({ input: proc.stdout! });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      proc.once('exit', (code) => reject(new Error(`memory-server exited ${code}: ${stderr}`)));
    });
  const { port, pid } = JSON.parse(await next()) as { port: number; pid: number };
  return {
    port,
    pid,
    stderr: () => stderr,
    stats: async () => {
      const line = next();
      proc.stdin!.write('stats\n');
      return (JSON.parse(await line) as { stats: TftpStats }).stats;
    },
  };
}

async function memory(pid: number): Promise<{ rss: number; hwm: number; threads: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1]);
  return { rss: field('VmRSS') * 1024, hwm: field('VmHWM') * 1024, threads: field('Threads') };
}

const mb = (bytes: number) => (bytes / MB).toFixed(1);
/** Transfers at once: as many as memory-server.ts allows (256). */
const TRANSFERS = 250;

/** The files every check downloads: cached (ipxe.efi), streamed from disk (big.bin, over the cache limit), text. */
async function files(t: Test): Promise<{ root: string; bytes: Map<string, Buffer> }> {
  const root = await tempDir(t);
  const bytes = new Map([
    ['ipxe.efi', randomBytes(IPXE_BYTES)],
    ['big.bin', randomBytes(3 * MB + 7)],
    ['motd.txt', Buffer.from('line1\nline2\r\nbare\rcr\n'.repeat(100))],
  ]);
  for (const [name, b] of bytes) await writeFile(path.join(root, name), b);
  return { root, bytes };
}

/** Each file with a real client: curl (cached), atftp with a window (streamed), tftp-hpa in netascii. */
async function downloadAll(t: Test, server: Served, f: { bytes: Map<string, Buffer> }, label: string): Promise<void> {
  const out = await tempDir(t);
  const port = String(server.port);
  await run('curl', ['-sS', '--tftp-blksize', '1468', '-o', path.join(out, 'ipxe.efi'), `tftp://127.0.0.1:${port}/ipxe.efi`]);
  await run('atftp', ['--option', 'blksize 1468', '--option', 'windowsize 16', '-g', '-r', 'big.bin', '-l', path.join(out, 'big.bin'), '127.0.0.1', port]);
  await run('tftp', ['-m', 'netascii', '127.0.0.1', port, '-c', 'get', 'motd.txt', path.join(out, 'motd.txt')]);
  for (const [name, bytes] of f.bytes) t.ok((await readFile(path.join(out, name))).equals(bytes), `${label}: ${name} byte-exact`);
  // The server hears of an end from the transfer thread, a moment after the client is done.
  let stats = await server.stats();
  for (const deadline = Date.now() + 2000; stats.completed < 3 && Date.now() < deadline; stats = await server.stats()) await new Promise((r) => setTimeout(r, 20));
  t.match(stats, { completed: 3, failed: 0, cacheMisses: 2 }, `${label}: three transfers completed (big.bin streamed, not cached)`);
}

t.test('compiled: the worker is built beside the service, its sources in the key, lean, and serving', async (t) => {
  const dir = await tempDir(t);
  copyTree(dir);
  const f = await files(t);
  const server = await serve(t, dir, f.root, MB);
  const [key] = readdirSync(path.join(dir, 'dist')).filter((e) => /^[0-9a-f]{16}$/.test(e));
  const cmdline = readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').split('\0');
  t.ok(cmdline.includes(path.join(dir, 'dist', key, 'memory-server.mjs')), `the build runs, not tsx: ${cmdline.join(' ')}`);
  const worker = path.join(dir, 'dist', key, 'transfer-worker.mjs');
  t.ok(existsSync(worker), 'the worker is built beside it');
  const workerCode = readFileSync(worker, 'utf8');
  t.ok(!/RootFiles|startTftpServer|decideRequest/.test(workerCode), `the worker's build holds transfers only (${(workerCode.length / 1024).toFixed(0)} kB), not the request side`);
  const inputs = readFileSync(path.join(dir, 'dist', 'memory-server.inputs'), 'utf8').split('\n');
  for (const source of ['server/tftp/transfer-worker.ts', 'server/tftp/transfer.ts', 'server/tftp/sender.ts']) t.ok(inputs.includes(source), `${source} is an input of the build`);

  await downloadAll(t, server, f, 'compiled');

  // A change to the worker alone (its mtime kept) is a new build.
  const source = path.join(dir, 'server', 'tftp', 'transfer-worker.ts');
  const { atime, mtime } = statSync(source);
  writeFileSync(source, `${readFileSync(source, 'utf8')}(globalThis as { edited?: boolean }).edited = true;\n`);
  utimesSync(source, atime, mtime);
  const again = await serve(t, dir, f.root, MB);
  const keys = readdirSync(path.join(dir, 'dist')).filter((e) => /^[0-9a-f]{16}$/.test(e));
  t.equal(keys.length, 2, 'an edit to the worker builds again');
  t.match(readFileSync(path.join(dir, 'dist', keys.find((k) => k !== key)!, 'transfer-worker.mjs'), 'utf8'), /\.edited = true;/, 'and the new build has it');
  await downloadAll(t, again, f, 'rebuilt');
});

t.test('compiled: 250 transfers of one cached file share its bytes with the worker', async (t) => {
  const dir = await tempDir(t);
  copyTree(dir);
  const f = await files(t);
  const server = await serve(t, dir, f.root, MB);
  await until(() => existsSync(`/proc/${server.pid}/status`));
  await new Promise((r) => setTimeout(r, 500));
  const idle = await memory(server.pid);
  t.comment(`idle: RSS ${mb(idle.rss)} MB, ${idle.threads} threads`);

  // Clients that ask and never acknowledge: every transfer holds its body (the retries take 6 s).
  const clients: RawClient[] = [];
  t.teardown(() => clients.forEach((c) => c.close()));
  for (let i = 0; i < TRANSFERS; i++) {
    const c = await RawClient.open(`127.0.1.${1 + (i % 250)}`);
    clients.push(c);
    c.send(encodeRequest('rrq', 'ipxe.efi', 'octet'), server.port);
  }
  const first = await Promise.all(clients.map((c) => c.next(3000)));
  t.ok(first.every((r) => r?.packet?.op === 'data'), `all ${TRANSFERS} transfers running`);
  const stats = await server.stats();
  t.match(stats, { active: TRANSFERS, started: TRANSFERS, cacheMisses: 1 }, 'one disk read');
  const busy = await memory(server.pid);
  const growth = busy.hwm - idle.rss;
  t.comment(`${TRANSFERS} transfers of ${IPXE_BYTES} bytes: RSS ${mb(busy.rss)} MB, peak ${mb(busy.hwm)} MB`);
  // A copy per transfer would be 250 × 850 kB = 203 MB.
  t.ok(growth < 40 * MB, `peak RSS grew ${mb(growth)} MB over idle, with ${TRANSFERS} transfers of one ${mb(IPXE_BYTES)} MB file running`);

  await downloadAll(t, server, f, 'meanwhile');
});

t.test("bin/kickstand's tsx fallback (no build possible): the worker runs the sources too", async (t) => {
  const dir = await tempDir(t);
  copyTree(dir);
  writeFileSync(path.join(dir, 'dist'), ''); // dist/ cannot be made
  const f = await files(t);
  const server = await serve(t, dir, f.root, MB);
  t.match(server.stderr(), /could not build dist\/ .*running the sources through tsx/);
  await downloadAll(t, server, f, 'tsx');
});
