/**
 * Real clients against the server: curl (tsize, blksize, timeout), atftp (windowsize, RFC 7440),
 * tftp-hpa (no options, and netascii). Byte-exact over sizes around every block boundary.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { run, tempDir, until, withServer } from './fixture.js';

const SIZES = [0, 1, 511, 512, 513, 1468, 1468 * 3, 8192 * 2, 65464, (1 << 20) + 7];

t.test('byte-exact downloads with curl, atftp and tftp-hpa', async (t) => {
  const f = await withServer(t, { resolveIp: (ip) => (ip === '127.0.0.1' ? { mac: '52:54:00:12:34:56', machine: 'web-01' } : undefined) });
  const out = await tempDir(t);
  const files = new Map<string, Buffer>();
  for (const size of SIZES) {
    const bytes = randomBytes(size);
    files.set(`f${size}.bin`, bytes);
    await writeFile(path.join(f.root, `f${size}.bin`), bytes);
  }
  const port = String(f.server.port);
  const clients: [string, (name: string, dest: string) => Promise<unknown>][] = [
    ...[512, 1468, 8192].map((b): [string, (n: string, d: string) => Promise<unknown>] => [
      `curl blksize ${b}`,
      // curl 7.88 rejects "tsize 0" in an OACK ("invalid tsize", tftpd-hpa hits the same), so the empty file goes without options.
      (name, dest) => run('curl', ['-sS', ...(files.get(name)!.length === 0 ? ['--tftp-no-options'] : ['--tftp-blksize', String(b)]), '-o', dest, f.url(name)]),
    ]),
    ['atftp blksize 1468 windowsize 16', (name, dest) => run('atftp', ['--option', 'blksize 1468', '--option', 'windowsize 16', '-g', '-r', name, '-l', dest, '127.0.0.1', port])],
    ['atftp blksize 512 windowsize 4', (name, dest) => run('atftp', ['--option', 'blksize 512', '--option', 'windowsize 4', '-g', '-r', name, '-l', dest, '127.0.0.1', port])],
    ['tftp-hpa (no options)', (name, dest) => run('tftp', ['-m', 'binary', '127.0.0.1', port, '-c', 'get', name, dest])],
  ];
  let n = 0;
  for (const [client, get] of clients) {
    for (const [name, bytes] of files) {
      const dest = path.join(out, `${n++}`);
      await get(name, dest);
      const got = await readFile(dest);
      t.ok(got.equals(bytes), `${client}: ${name} (${got.length}/${bytes.length} bytes)`);
    }
  }
  // A client is done when it sent its final ACK; the server hears of the end a moment later, from the transfer thread.
  await until(() => f.server.stats().active === 0);
  const stats = f.server.stats();
  t.equal(stats.completed, clients.length * files.size, 'every transfer completed');
  t.equal(stats.failed, 0);
  t.equal(stats.active, 0);
  t.equal(stats.cacheMisses, files.size, 'each file read from disk once, then from memory');

  const done = f.events.filter((e) => / sent /.test(e.message));
  t.equal(done.length, clients.length * files.size);
  t.match(done.at(-1), { kind: 'tftp', level: 'info', ip: '127.0.0.1', mac: '52:54:00:12:34:56', machine: 'web-01', data: { file: `f${SIZES.at(-1)}.bin`, bytes: SIZES.at(-1) } });
  t.equal(f.events.filter((e) => / started$/.test(e.message)).length, done.length, 'a start event for every transfer');
});

t.test('netascii mode (tftp-hpa): text arrives as it is on disk', async (t) => {
  const f = await withServer(t);
  const out = await tempDir(t);
  const text = 'line1\nline2\r\nbare\rcr\n';
  await writeFile(path.join(f.root, 'motd.txt'), text);
  await run('tftp', ['-m', 'netascii', '127.0.0.1', String(f.server.port), '-c', 'get', 'motd.txt', path.join(out, 'motd')]);
  t.equal(await readFile(path.join(out, 'motd'), 'latin1'), text);
});

t.test('generated content is served before the filesystem and tsize is its length', async (t) => {
  const seen: string[] = [];
  const f = await withServer(t, {
    generate: async (p, remote) => {
      seen.push(`${p} ${remote.address}`);
      return p === 'boot.ipxe' ? Buffer.from('#!ipxe\nchain http://127.0.0.1/boot\n') : undefined;
    },
  });
  await writeFile(path.join(f.root, 'boot.ipxe'), 'from disk');
  await writeFile(path.join(f.root, 'other'), 'from disk');
  const { stdout } = await run('curl', ['-sS', f.url('boot.ipxe')]);
  t.equal(stdout, '#!ipxe\nchain http://127.0.0.1/boot\n');
  t.equal((await run('curl', ['-sS', `tftp://127.0.0.1:${f.server.port}//other`])).stdout, 'from disk', 'generator declined: disk');
  t.same(seen, ['boot.ipxe 127.0.0.1', 'other 127.0.0.1'], 'generator sees the root-relative path');
});

t.test('block numbers roll over past 65535 with a real client (file streamed, not cached)', async (t) => {
  const f = await withServer(t, { cacheMaxFileBytes: 1 << 20 });
  const out = await tempDir(t);
  const bytes = randomBytes(512 * 65536 + 100);
  await writeFile(path.join(f.root, 'big.bin'), bytes);
  await run('curl', ['-sS', '--tftp-blksize', '512', '-o', path.join(out, 'big'), f.url('big.bin')], { timeout: 50_000 });
  t.ok((await readFile(path.join(out, 'big'))).equals(bytes), `${bytes.length} bytes, ${Math.floor(bytes.length / 512) + 1} blocks`);
  t.equal(f.server.stats().cacheMisses, 0, 'streamed from the file, never cached');
});

t.test('a rack booting at once: 24 concurrent clients, each byte-exact, one disk read', async (t) => {
  const f = await withServer(t);
  const out = await tempDir(t);
  const bytes = randomBytes(300_000);
  await writeFile(path.join(f.root, 'ipxe.efi'), bytes);
  const port = String(f.server.port);
  const jobs = Array.from({ length: 24 }, (_, i) => {
    const dest = path.join(out, `c${i}`);
    const get =
      i % 2
        ? run('curl', ['-sS', '--tftp-blksize', '1468', '-o', dest, f.url('ipxe.efi')])
        : run('atftp', ['--option', 'blksize 1468', '--option', 'windowsize 8', '-g', '-r', 'ipxe.efi', '-l', dest, '127.0.0.1', port]);
    return get.then(() => readFile(dest));
  });
  const results = await Promise.all(jobs);
  t.ok(results.every((r) => r.equals(bytes)), 'all 24 copies byte-exact');
  await until(() => f.server.stats().active === 0);
  t.match(f.server.stats(), { completed: 24, failed: 0, cacheMisses: 1 });
});

t.test('IPv6: a server on ::1', async (t) => {
  const f = await withServer(t, { host: '::1' });
  await writeFile(path.join(f.root, 'v6'), 'over ipv6');
  const { stdout } = await run('curl', ['-sS', `tftp://[::1]:${f.server.port}/v6`]);
  t.equal(stdout, 'over ipv6');
  await until(() => f.server.stats().completed === 1);
  t.match(f.events.at(-1), { ip: '::1', data: { bytes: 9 } });
});
