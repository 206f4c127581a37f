/**
 * A real firmware TFTP client: OVMF's own UEFI PXE (QEMU NIC without its iPXE ROM), TCG, in a
 * network namespace. dnsmasq does DHCP only and points at our server; the firmware probes tsize,
 * fetches snponly.efi with blksize and windowsize (EDK2 speaks RFC 7440), and iPXE then fetches a
 * generated boot.ipxe from us and runs it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { BootEvent } from '../../server/model/events.js';
import { tempDir, until } from './fixture.js';

const OVMF = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const needs = [OVMF, '/usr/lib/ipxe/snponly.efi', '/usr/bin/qemu-system-x86_64', '/usr/sbin/dnsmasq'];
const skip = process.getuid?.() !== 0 || !needs.every(existsSync) ? `needs root and ${needs.join(', ')}` : false;

t.test('OVMF native PXE → our TFTP → snponly.efi → iPXE → generated boot.ipxe', { skip }, async (t) => {
  const work = await tempDir(t);
  const ns = `kst${process.pid}`;
  const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args]);
  const children: ChildProcess[] = [];
  const background = (args: string[], out?: (s: string) => void) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    if (out) child.stdout!.on('data', (d: Buffer) => out(d.toString()));
    children.push(child);
    return child;
  };
  execFileSync('ip', ['netns', 'add', ns]);
  t.teardown(async () => {
    for (const child of children) child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    execFileSync('ip', ['netns', 'del', ns]);
  });
  ip('link', 'set', 'lo', 'up');
  ip('link', 'add', 'br0', 'type', 'bridge');
  ip('tuntap', 'add', 'dev', 'tap0', 'mode', 'tap');
  ip('link', 'set', 'tap0', 'master', 'br0');
  ip('addr', 'add', '10.79.0.1/24', 'dev', 'br0');
  // iPXE waits ~10 s for IPv6 autoconfiguration unless a router advertisement arrives.
  ip('addr', 'add', 'fd79::1/64', 'dev', 'br0', 'nodad');
  ip('link', 'set', 'tap0', 'up');
  ip('link', 'set', 'br0', 'up');

  writeFileSync(
    path.join(work, 'dnsmasq.conf'),
    [
      'port=0',
      'interface=br0',
      'bind-interfaces',
      'dhcp-range=10.79.0.50,10.79.0.90,255.255.255.0,1h',
      `dhcp-leasefile=${work}/leases`,
      'no-ping',
      'dhcp-userclass=set:ipxe,iPXE',
      'dhcp-option=tag:ipxe,encap:175,176,1b',
      'dhcp-boot=tag:ipxe,boot.ipxe,,10.79.0.1',
      'dhcp-boot=tag:!ipxe,snponly.efi,,10.79.0.1',
      'enable-ra',
      'dhcp-range=::,constructor:br0,ra-only',
      '',
    ].join('\n'),
  );
  background(['dnsmasq', '-k', `--conf-file=${work}/dnsmasq.conf`]);

  let serverOut = '';
  background([process.execPath, '--import', 'tsx', path.join(import.meta.dirname, 'netns-server.ts'), '10.79.0.1', '/usr/lib/ipxe', '/boot'], (s) => (serverOut += s));
  await until(() => serverOut.includes('ready'), 20_000);

  copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', path.join(work, 'vars.fd'));
  const serial = path.join(work, 'serial.log');
  background([
    'qemu-system-x86_64', '-machine', 'q35', '-accel', 'tcg', '-m', '512', '-nographic', '-vga', 'none', '-nodefaults',
    '-serial', `file:${serial}`, '-monitor', 'none',
    '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF}`, '-drive', `if=pflash,format=raw,unit=1,file=${work}/vars.fd`,
    '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no',
    '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:79:00:10,bootindex=1,romfile=', '-boot', 'n',
  ]);
  const marker = () => existsSync(serial) && readFileSync(serial, 'latin1').includes('KS-TFTP-SCRIPT-OK 52:54:00:79:00:10 efi');
  await until(marker, 90_000).catch(() => {});
  t.ok(marker(), 'iPXE ran the script it fetched from us over TFTP');
  await until(() => /boot\.ipxe sent/.test(serverOut), 5000).catch(() => {}); // the event line may trail the VM

  const events: BootEvent[] = serverOut.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const efi = readFileSync('/usr/lib/ipxe/snponly.efi').length;
  t.ok(events.some((e) => /snponly\.efi ended by the client after the OACK/.test(e.message)), 'the firmware probed the size first');
  t.match(
    events.find((e) => /snponly\.efi sent/.test(e.message)),
    { level: 'info', data: { bytes: efi } },
    'then fetched all of snponly.efi',
  );
  t.ok(events.some((e) => e.message.includes('snponly.efi started') && (e.data?.windowsize as number) > 1), 'with a window (RFC 7440)');
  t.ok(events.some((e) => /boot\.ipxe sent \d+ bytes/.test(e.message)), 'iPXE fetched the generated script');
  t.notOk(events.some((e) => e.level === 'warn'), 'no failure on the way');
});
