import t from 'tap';
import { safeRelativePath } from '../server/files/path.js';

t.test('ordinary names, leading slash stripped like tftpd-hpa -s', async (t) => {
  t.same(safeRelativePath('undionly.kpxe'), { ok: true, path: 'undionly.kpxe' });
  t.same(safeRelativePath('/undionly.kpxe'), { ok: true, path: 'undionly.kpxe' });
  t.same(safeRelativePath('//pxelinux.cfg/./01-aa'), { ok: true, path: 'pxelinux.cfg/01-aa' });
  t.same(safeRelativePath('boot\\x64\\wdsnbp.com'), { ok: true, path: 'boot/x64/wdsnbp.com' });
  t.same(safeRelativePath('a..b/...'), { ok: true, path: 'a..b/...' }, 'dots inside names are fine');
});

t.test('escapes are refused', async (t) => {
  for (const name of [
    '..',
    '../etc/passwd',
    '/../../etc/passwd',
    'a/../../etc/passwd',
    'a/b/..',
    '..\\..\\etc\\passwd',
    'a\\..\\..\\x',
    '%2e%2e/%2e%2e/etc/passwd',
    '..%2fetc%2fpasswd',
    '%2E%2E%5C',
    'file%00.txt',
    'ipxe.efi\0../../etc/passwd',
    'a\nb',
    '\x7f',
    '/',
    '',
    './/.',
    'x'.repeat(600),
  ])
    t.equal(safeRelativePath(name).ok, false, JSON.stringify(name.slice(0, 40)));
});
