/**
 * Issue 18: the signed boot path over TFTP. Pinned assets (shim, GRUB, the kernel GRUB loads) are
 * served from the assets directory at their own path, and nothing else of that directory is; GRUB's
 * lookup (grub/grub.cfg, grub/grub.cfg-01-<mac>) is generated, with the MAC taken from the name
 * only when the name is exactly that shape. Real clients (curl, atftp) on loopback.
 */
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { grubContent } from '../../server/tftp/grub-content.js';
import { attempt, run, tempDir, withServer } from './fixture.js';

t.test('pinned assets come from the assets directory, only those listed, nothing outside it', async (t) => {
  const assets = await tempDir(t);
  const outside = await tempDir(t);
  await mkdir(path.join(assets, 'efi'), { recursive: true });
  await mkdir(path.join(assets, 'rocky-9'), { recursive: true });
  const shim = Buffer.alloc(300_000, 7);
  await writeFile(path.join(assets, 'efi', 'shimx64.efi'), shim);
  await writeFile(path.join(assets, 'rocky-9', 'vmlinuz'), 'kernel');
  await writeFile(path.join(assets, 'rocky-9', 'unpinned.img'), 'not pinned');
  await writeFile(path.join(outside, 'secret'), 'secret');
  await symlink(path.join(outside, 'secret'), path.join(assets, 'rocky-9', 'link'));
  const paths = new Set(['efi/shimx64.efi', 'rocky-9/vmlinuz', 'rocky-9/link']);
  const f = await withServer(t, { assets: { dir: assets, paths } });
  await writeFile(path.join(f.root, 'ipxe.efi'), 'ipxe from the root');
  await writeFile(path.join(f.root, 'vmlinuz'), 'root file');

  const out = await tempDir(t);
  await run('atftp', ['--option', 'blksize 1468', '--option', 'windowsize 8', '-g', '-r', 'efi/shimx64.efi', '-l', path.join(out, 'shim'), '127.0.0.1', String(f.server.port)]);
  t.same(await readFile(path.join(out, 'shim')), shim, 'shim byte-exact (atftp, windowsize 8)');
  t.equal((await run('curl', ['-sS', f.url('rocky-9/vmlinuz')])).stdout, 'kernel', 'a pinned kernel');
  t.equal((await run('curl', ['-sS', `tftp://127.0.0.1:${f.server.port}//rocky-9/vmlinuz`])).stdout, 'kernel', 'with a leading slash, as GRUB asks');
  t.equal((await run('curl', ['-sS', f.url('ipxe.efi')])).stdout, 'ipxe from the root', 'the root still serves the rest');
  const unpinned = await attempt('curl', ['-sS', f.url('rocky-9/unpinned.img')]);
  t.not(unpinned.code, 0, 'a file in the assets directory that is not pinned is not served');
  const escaped = await attempt('curl', ['-sS', f.url('rocky-9/link')]);
  t.not(escaped.code, 0, 'a pinned path that is a symlink out of the assets directory is refused');
  t.notMatch(escaped.stdout, 'secret');
  const traversal = await attempt('curl', ['-sS', '--path-as-is', `tftp://127.0.0.1:${f.server.port}/efi/../../${path.basename(outside)}/secret`]);
  t.not(traversal.code, 0, '.. is refused');
});

t.test('GRUB lookup: grub.cfg for everyone, grub.cfg-01-<mac> per MAC with the asker address, other names left to the root', async (t) => {
  const asked: string[] = [];
  const generate = grubContent({
    lookup: () => '# lookup\n',
    perMac: async (mac, ip) => {
      asked.push(`${mac} ${ip}`);
      return mac === '52:54:00:00:00:02' ? undefined : `# config of ${mac}\n`;
    },
  });
  const f = await withServer(t, { generate });
  await mkdir(path.join(f.root, 'grub'), { recursive: true });
  await writeFile(path.join(f.root, 'grub', 'grub.cfg-0A000001'), 'by IP, from the root');
  t.equal((await run('curl', ['-sS', f.url('grub/grub.cfg')])).stdout, '# lookup\n');
  t.equal((await run('curl', ['-sS', `tftp://127.0.0.1:${f.server.port}//grub/grub.cfg-01-52-54-00-AB-CD-01`])).stdout, '# config of 52:54:00:ab:cd:01\n');
  t.equal((await run('curl', ['-sS', f.url('grub/grub.cfg-0A000001')])).stdout, 'by IP, from the root', 'not a per-MAC name: the root');
  for (const bad of ['grub/grub.cfg-01-52-54-00-ab-cd', 'grub/grub.cfg-01-52-54-00-ab-cd-01-ff', 'grub/grub.cfg-01-zz-54-00-ab-cd-01', 'grub/x86_64-efi/command.lst'])
    t.not((await attempt('curl', ['-sS', f.url(bad)])).code, 0, `${bad}: not found`);
  t.not((await attempt('curl', ['-sS', f.url('grub/grub.cfg-01-52-54-00-00-00-02')])).code, 0, 'no configuration (no HTTP base): not found');
  t.same(asked, ['52:54:00:ab:cd:01 127.0.0.1', '52:54:00:00:00:02 127.0.0.1'], 'only well-formed names reach the lookup, with the asking address');
});
