import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Machine } from '../../server/model/machine.js';
import { RenderEnv } from '../../server/render/env.js';
import { renderIpxe } from '../../server/render/ipxe.js';
import { ctxFor, examples } from './helpers.js';

/**
 * The rendered iPXE scripts run in real iPXE (Debian's ipxe.lkrn under QEMU, user-mode network:
 * the guest reaches this test's server on 127.0.0.1 as 10.0.2.2, and QEMU answers its DHCP).
 * Bootstrap → per-machine script → kernel (lost once, so the retry path runs) → initrd → boot.
 * The "kernel" served is an iPXE script, so `boot` ends in a request we can see.
 */
function startQemu(args: string[]): ChildProcess {
  return spawn('qemu-system-x86_64', ['-accel', 'tcg', '-m', '256', '-display', 'none', '-no-reboot', '-kernel', '/usr/lib/ipxe/ipxe.lkrn', ...args], { stdio: 'ignore' });
}

const QEMU_MAC = '52:54:00:12:34:56';

t.test('bootstrap and install scripts drive a real iPXE through a lost kernel download', { timeout: 90_000 }, async (t) => {
  const env = new RenderEnv();
  const util = (await examples()).find((e) => e.machine.name === 'util-01')!;
  const machine = Machine.parse({ ...util.machine, macs: [QEMU_MAC] });
  const seen: string[] = [];
  let kernelRequests = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));

  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    seen.push(`${url.pathname}${url.search ? `?${url.searchParams}` : ''}`);
    if (url.pathname === '/boot/ipxe') {
      const mac = url.searchParams.get('mac');
      return res.end(mac === QEMU_MAC ? renderIpxe({ kind: 'install', ctx: ctxFor(machine, util.profile, { urls: { base } }) }, env) : '#!ipxe\nexit\n');
    }
    if (url.pathname === '/boot/assets/rocky-9/vmlinuz') {
      if (++kernelRequests === 1) {
        res.statusCode = 503;
        return res.end();
      }
      return res.end(`#!ipxe\nchain ${base}/booted\n`);
    }
    if (url.pathname === '/boot/assets/rocky-9/initrd.img') return res.end(Buffer.alloc(4096, 7));
    if (url.pathname === '/booted') {
      done();
      return res.end('#!ipxe\nsleep 600\n');
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const base = `http://10.0.2.2:${port}`;

  const dir = mkdtempSync(join(tmpdir(), 'ks-ipxe-'));
  const script = join(dir, 'bootstrap.ipxe');
  writeFileSync(script, renderIpxe({ kind: 'bootstrap', urls: { base } }, env));
  const qemu = startQemu(['-initrd', script, '-netdev', 'user,id=n0', '-device', `e1000,netdev=n0,mac=${QEMU_MAC}`]);
  t.teardown(() => {
    qemu.kill('SIGKILL');
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const timer = setTimeout(done, 75_000);
  await finished;
  clearTimeout(timer);

  t.same(seen, [
    `/boot/ipxe?mac=${encodeURIComponent(QEMU_MAC)}`,
    '/boot/assets/rocky-9/vmlinuz',
    '/boot/assets/rocky-9/vmlinuz',
    '/boot/assets/rocky-9/initrd.img',
    '/booted',
  ]);
  t.equal(kernelRequests, 2, 'the lost kernel download was retried');
});

t.test('the BIOS local-boot script hands over to the first disk', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-ipxe-'));
  // A boot sector that writes "KS" to the first serial port and halts.
  const code = Buffer.from([0xba, 0xf8, 0x03, 0xb0, 0x4b, 0xee, 0xb0, 0x53, 0xee, 0xf4, 0xeb, 0xfd]);
  const disk = Buffer.alloc(1024 * 1024);
  code.copy(disk);
  disk.writeUInt16LE(0xaa55, 510);
  writeFileSync(join(dir, 'disk.img'), disk);
  const script = join(dir, 'local.ipxe');
  writeFileSync(script, renderIpxe({ kind: 'local', name: 'util-01', firmware: 'bios', urls: { base: 'http://10.0.2.2:1' } }, new RenderEnv()));
  const serial = join(dir, 'serial.log');
  const qemu = startQemu(['-initrd', script, '-drive', `file=${join(dir, 'disk.img')},format=raw,if=ide`, '-net', 'none', '-serial', `file:${serial}`]);
  t.teardown(() => {
    qemu.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 45_000;
  const booted = () => existsSync(serial) && readFileSync(serial, 'latin1').includes('KS');
  while (!booted() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  t.ok(booted(), 'the boot sector of the disk ran');
});
