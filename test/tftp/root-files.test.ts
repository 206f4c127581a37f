import { execFile } from 'node:child_process';
import { mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { openBody, type BodySource } from '../../server/tftp/body-source.js';
import { ErrorCode } from '../../server/tftp/packet.js';
import { RootFiles } from '../../server/tftp/root-files.js';
import { tempDir } from './fixture.js';

async function readAll(source: BodySource): Promise<Buffer> {
  const body = openBody(source);
  const parts: Buffer[] = [];
  for (let at = 0; at < body.size; at += 1000) parts.push(await body.read(at, Math.min(at + 1000, body.size)));
  body.close();
  return Buffer.concat(parts);
}

t.test('symlinks: inside the root followed, outside refused unless the directory is allowed', async (t) => {
  const base = await tempDir(t);
  const root = path.join(base, 'root');
  const outside = path.join(base, 'boot');
  await mkdir(path.join(root, 'sub'), { recursive: true });
  await mkdir(outside);
  await writeFile(path.join(root, 'sub', 'real.bin'), 'inside');
  await writeFile(path.join(outside, 'ipxe.efi'), 'efi');
  await writeFile(path.join(base, 'secret'), 'secret');
  await symlink('sub/real.bin', path.join(root, 'link.bin'));
  await symlink(path.join(outside, 'ipxe.efi'), path.join(root, 'ipxe.efi'));
  await symlink(path.join(base, 'secret'), path.join(root, 'secret'));
  await symlink('/', path.join(root, 'slash'));
  await symlink('loop', path.join(root, 'loop'));

  const strict = new RootFiles({ root });
  const opened = await strict.open('link.bin');
  t.ok(opened.ok && (await readAll(opened.body)).toString() === 'inside');
  for (const name of ['ipxe.efi', 'secret', 'slash/etc/passwd']) {
    t.match(await strict.open(name), { ok: false, code: ErrorCode.ACCESS_VIOLATION }, name);
  }
  t.match(await strict.open('loop'), { ok: false, code: ErrorCode.ACCESS_VIOLATION }, 'symlink loop');
  t.match(await strict.open('missing'), { ok: false, code: ErrorCode.FILE_NOT_FOUND });
  t.match(await strict.open('sub'), { ok: false, code: ErrorCode.ACCESS_VIOLATION }, 'a directory is not served');

  const debian = new RootFiles({ root, symlinkDirs: [outside] });
  const efi = await debian.open('ipxe.efi');
  t.ok(efi.ok && (await readAll(efi.body)).toString() === 'efi', 'allowed directory (Debian: /usr/lib/ipxe/ipxe.efi → /boot)');
  t.match(await debian.open('secret'), { ok: false, code: ErrorCode.ACCESS_VIOLATION }, 'other targets still refused');
});

t.test('a FIFO is refused without blocking', async (t) => {
  const root = await tempDir(t);
  await promisify(execFile)('mkfifo', [path.join(root, 'pipe')]);
  t.match(await new RootFiles({ root }).open('pipe'), { ok: false, code: ErrorCode.ACCESS_VIOLATION });
});

t.test('cache: one disk read per file version, a changed file is read again', async (t) => {
  const root = await tempDir(t);
  const file = path.join(root, 'undionly.kpxe');
  await writeFile(file, 'v1');
  const files = new RootFiles({ root });
  const first = await Promise.all([files.open('undionly.kpxe'), files.open('undionly.kpxe'), files.open('undionly.kpxe')]);
  t.equal(files.misses, 1, 'concurrent first opens share one disk read…');
  const again = await files.open('undionly.kpxe');
  t.ok(again.ok && again.cached && (await readAll(again.body)).toString() === 'v1', '…and the next one hits it');
  t.ok(first.every((o) => o.ok));
  await writeFile(file, 'v2 longer');
  await utimes(file, new Date(), new Date(Date.now() + 5000));
  const changed = await files.open('undionly.kpxe');
  t.ok(changed.ok && !changed.cached && (await readAll(changed.body)).toString() === 'v2 longer', 'new mtime: read again');
});

t.test('cache is bounded: least recently used files are evicted', async (t) => {
  const root = await tempDir(t);
  for (const name of ['a', 'b', 'c']) await writeFile(path.join(root, name), Buffer.alloc(400, name));
  const files = new RootFiles({ root, cacheMaxTotalBytes: 1000, cacheMaxFileBytes: 500 });
  await files.open('a');
  await files.open('b');
  await files.open('a'); // a is now the most recent
  await files.open('c'); // evicts b
  const hits = files.hits;
  t.match(await files.open('a'), { ok: true, cached: true });
  t.match(await files.open('b'), { ok: true, cached: false });
  t.equal(files.hits, hits + 1);
});

t.test('files over the cache limit are streamed in chunks', async (t) => {
  const root = await tempDir(t);
  const bytes = Buffer.alloc(3 * 1024 * 1024 + 5);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 12)) & 0xff;
  await writeFile(path.join(root, 'big'), bytes);
  const opened = await new RootFiles({ root, cacheMaxFileBytes: 1024 }).open('big');
  t.ok(opened.ok && !opened.cached);
  if (opened.ok) t.ok((await readAll(opened.body)).equals(bytes));
});
