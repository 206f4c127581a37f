/** The in-memory newc writer, read back by GNU cpio (the format's reference reader here). */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { newc } from './lib/cpio.js';

t.test('GNU cpio extracts what newc wrote', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ks-cpio-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // odd lengths on purpose: every header, name and body must be padded to 4 bytes
  const binary = Buffer.from([0, 1, 2, 255, 254, 7, 0]);
  const archive = newc([
    { path: '/bin', kind: 'dir' },
    { path: 'bin/tool', kind: 'file', data: binary, mode: 0o755 },
    { path: 'bin/sh', kind: 'symlink', target: 'tool' },
    { path: 'etc', kind: 'dir', mode: 0o700 },
    { path: 'etc/a-longer-name.conf', kind: 'file', data: 'x=1\n' },
    { path: 'empty', kind: 'file', data: '' },
    { path: 'usr/lib/deep/lib.so', kind: 'file', data: 'elf' },
  ]);
  const listing = spawnSync('cpio', ['-itv', '--quiet'], { input: archive, encoding: 'utf8' });
  t.equal(listing.status, 0, listing.stderr);
  t.match(listing.stdout, /^-rwxr-xr-x .* bin\/tool$/m);
  t.match(listing.stdout, /^lrwxrwxrwx .* bin\/sh -> tool$/m);
  t.match(listing.stdout, /^drwx------ .* etc$/m);
  const extract = spawnSync('cpio', ['-idm', '--quiet', '--no-absolute-filenames'], { input: archive, cwd: dir });
  t.equal(extract.status, 0, String(extract.stderr));
  t.same(await readFile(join(dir, 'bin/tool')), binary);
  t.equal(await readlink(join(dir, 'bin/sh')), 'tool');
  t.equal(await readFile(join(dir, 'etc/a-longer-name.conf'), 'utf8'), 'x=1\n');
  t.equal((await stat(join(dir, 'empty'))).size, 0);
  t.match(listing.stdout, /^drwxr-xr-x .* usr\n.* usr\/lib\n.* usr\/lib\/deep\n.* usr\/lib\/deep\/lib.so$/m, 'unnamed parents come before the file, in order');
  t.notMatch(listing.stdout, /^d.* bin\n(.*\n)*d.* bin$/m, 'a named directory is not written twice');
  t.equal(await readFile(join(dir, 'usr/lib/deep/lib.so'), 'utf8'), 'elf');
  t.equal(archive.length % 4, 0);
});
