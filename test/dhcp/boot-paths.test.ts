import t from 'tap';
import { classify, DEFAULT_BOOT_FILES } from '../../server/dhcp/classify.js';
import { readClientInfo } from '../../server/dhcp/client-info.js';
import { parseDhcp, serializeDhcp, type DhcpPacket } from '../../server/dhcp/codec.js';
import { createHandler } from '../../server/dhcp/handler.js';
import { LeaseTable } from '../../server/dhcp/lease-table.js';
import { Opt } from '../../server/dhcp/options.js';
import { Pool } from '../../server/dhcp/pool.js';
import type { BootView } from '../../server/model/boot.js';
import { Profile } from '../../server/model/profile.js';
import { request, requestPacket } from './packets.js';

/**
 * Issue 18: which loader each client architecture gets, with and without Secure Boot, through the
 * whole handler and the wire format (boot file in `file` and option 67, option 60 echoed as
 * HTTPClient for UEFI HTTP boot, PXEClient otherwise), in proxy and authoritative mode.
 */

const SERVER = '10.62.0.1';
const URL = 'http://10.62.0.1:8080';
const ASSETS = `${URL}/boot/assets`;

type Machine = 'unknown' | 'x64' | 'x64-sb' | 'arm64' | 'arm64-sb';
const MACS: Record<Machine, string> = {
  unknown: '52:54:00:18:00:99',
  x64: '52:54:00:18:00:01',
  'x64-sb': '52:54:00:18:00:02',
  arm64: '52:54:00:18:00:03',
  'arm64-sb': '52:54:00:18:00:04',
};
const view = (name: string, mac: string, arch: 'x86_64' | 'aarch64', secureBoot: boolean): BootView => ({
  name,
  macs: [mac],
  netboot: 'install',
  state: 'pxe-booting',
  firmware: 'uefi',
  arch,
  secureBoot,
  os: 'rocky-9',
});
const machines = new Map<string, BootView>([
  [MACS.x64, view('x64', MACS.x64, 'x86_64', false)],
  [MACS['x64-sb'], view('x64-sb', MACS['x64-sb'], 'x86_64', true)],
  [MACS.arm64, view('arm64', MACS.arm64, 'aarch64', false)],
  [MACS['arm64-sb'], view('arm64-sb', MACS['arm64-sb'], 'aarch64', true)],
]);

/** What firmware of each architecture sends: option 93 and its vendor class. */
const vendorOf = (arch: number) => `${arch === 16 || arch === 19 || arch === 15 ? 'HTTPClient' : 'PXEClient'}:Arch:${String(arch).padStart(5, '0')}:UNDI:003016`;

/** [arch, machine] → boot file (TFTP path or HTTP URL), or undefined for no answer. */
type Want = { file: string; vendor: 'PXEClient' | 'HTTPClient' } | undefined;
const pxe = (file: string): Want => ({ file, vendor: 'PXEClient' });
const http = (file: string): Want => ({ file, vendor: 'HTTPClient' });

const TABLE: Array<[number, Machine, Want]> = [
  // BIOS: no shim exists; the profile schema keeps secureBoot off BIOS (tested below).
  [0, 'unknown', pxe('undionly.kpxe')],
  [0, 'x64', pxe('undionly.kpxe')],
  // IA32 UEFI: iPXE whatever the profile (no IA32 shim is shipped signed).
  [6, 'unknown', pxe('ipxe-i386.efi')],
  [6, 'x64-sb', pxe('ipxe-i386.efi')],
  [7, 'unknown', pxe('ipxe.efi')],
  [7, 'x64', pxe('ipxe.efi')],
  [7, 'x64-sb', pxe('grub/shimx64.efi')],
  [9, 'unknown', pxe('ipxe.efi')],
  [9, 'x64', pxe('ipxe.efi')],
  [9, 'x64-sb', pxe('grub/shimx64.efi')],
  // ARM 32-bit UEFI: not a platform kickstand boots.
  [10, 'unknown', undefined],
  [10, 'arm64-sb', undefined],
  [11, 'unknown', pxe('ipxe-arm64.efi')],
  [11, 'arm64', pxe('grub/grubaa64.efi')],
  [11, 'arm64-sb', pxe('grub/shimaa64.efi')],
  [16, 'unknown', http(`${URL}/boot/firmware/ipxe.efi`)],
  [16, 'x64', http(`${URL}/boot/firmware/ipxe.efi`)],
  [16, 'x64-sb', http(`${ASSETS}/grub/shimx64.efi`)],
  [19, 'unknown', http(`${URL}/boot/firmware/ipxe-arm64.efi`)],
  [19, 'arm64', http(`${ASSETS}/grub/grubaa64.efi`)],
  [19, 'arm64-sb', http(`${ASSETS}/grub/shimaa64.efi`)],
];

function wire(ex: { replies: Array<{ packet: DhcpPacket }> }): DhcpPacket | undefined {
  if (ex.replies.length === 0) return undefined;
  const r = parseDhcp(serializeDhcp(ex.replies[0].packet));
  if (!r.ok) throw new Error(r.error.detail);
  return r.packet;
}

for (const mode of ['proxy', 'authoritative'] as const) {
  t.test(`${mode}: boot file and option 60 per architecture and profile`, async (t) => {
    const h = createHandler({
      mode,
      serverAddress: SERVER,
      tftpServer: SERVER,
      publicUrl: URL,
      bootFiles: DEFAULT_BOOT_FILES,
      unknownMachines: 'local',
      ports: { server: 67, proxy: 4011, client: 68 },
      directory: { byMac: async (mac) => machines.get(mac) },
      pools: mode === 'authoritative' ? [new Pool({ cidr: '10.62.0.0/24', range: ['10.62.0.100', '10.62.0.150'], dns: [], leaseSeconds: 600 })] : [],
      leases: mode === 'authoritative' ? new LeaseTable() : undefined,
    });
    for (const [arch, who, want] of TABLE) {
      const name = `arch ${arch}, ${who}`;
      const p = wire(await h(request({ type: 'DISCOVER', mac: MACS[who], arch, vendor: vendorOf(arch) }), 67, { address: '0.0.0.0', port: 68 }));
      if (!want) {
        // Authoritative mode still leases an address to a client it cannot boot; no boot file then.
        t.notOk(p?.options.get(Opt.BOOTFILE), `${name}: no boot file`);
        continue;
      }
      if (!p) {
        t.fail(`${name}: no reply`);
        continue;
      }
      t.equal(p.options.get(Opt.BOOTFILE)?.toString('latin1'), want.file, `${name}: option 67`);
      t.equal(p.file, want.file, `${name}: file field`);
      t.equal(p.options.get(Opt.VENDOR_CLASS)?.toString('latin1'), want.vendor, `${name}: option 60`);
      if (want.vendor === 'PXEClient') t.equal(p.options.get(Opt.TFTP_SERVER)?.toString('latin1'), SERVER, `${name}: option 66`);
      else t.notOk(p.options.get(Opt.TFTP_SERVER), `${name}: no TFTP server for HTTP boot`);
    }
  });
}

t.test('classify names the loader; iPXE already running keeps its script', async (t) => {
  const opts = { publicUrl: URL, bootFiles: DEFAULT_BOOT_FILES };
  const info = (arch: number, extra: { userClass?: string } = {}) => readClientInfo(requestPacket({ type: 'DISCOVER', mac: MACS['x64-sb'], arch, vendor: vendorOf(arch), ...extra }));
  t.match(classify(info(7), MACS['x64-sb'], opts, { arch: 'x86_64', secureBoot: true }).boot, { kind: 'tftp', loader: 'shim', firmware: 'uefi-x64' });
  t.match(classify(info(11), MACS.arm64, opts, { arch: 'aarch64', secureBoot: false }).boot, { kind: 'tftp', loader: 'grub', firmware: 'uefi-arm64' });
  t.match(classify(info(7), MACS.x64, opts).boot, { loader: 'ipxe' }, 'no profile: iPXE');
  t.match(classify(info(7), MACS.x64, opts, { arch: 'x86_64' }).boot, { loader: 'ipxe' }, 'secureBoot absent: iPXE');
  // An x86_64 profile on an ARM64 box (a miscabled inventory) gets what an unknown ARM64 box gets.
  t.match(classify(info(11), MACS.x64, opts, { arch: 'x86_64', secureBoot: true }).boot, { loader: 'ipxe', file: 'ipxe-arm64.efi' });
  t.match(classify(info(7, { userClass: 'iPXE' }), MACS['x64-sb'], opts, { arch: 'x86_64', secureBoot: true }).boot, { kind: 'ipxe-script', loader: 'ipxe' });
  const custom = { ...DEFAULT_BOOT_FILES, 'shim-x64': 'rocky/shimx64.efi' };
  t.match(classify(info(16), MACS['x64-sb'], { ...opts, bootFiles: custom }, { arch: 'x86_64', secureBoot: true }).boot, { url: `${ASSETS}/rocky/shimx64.efi` }, 'configurable');
});

t.test('profile: secureBoot and aarch64 are UEFI only', async (t) => {
  const base = {
    name: 'p',
    os: 'rocky-9',
    firmware: 'uefi',
    disks: [{ name: 'sys0', path: '/dev/disk/by-path/pci-0000:00:1f.2-ata-1' }],
    storage: { disks: ['sys0'], volumes: [{ name: 'root', mount: '/' }] },
  };
  t.equal(Profile.parse(base).secureBoot, false, 'off by default');
  t.equal(Profile.parse({ ...base, secureBoot: true }).secureBoot, true);
  t.match(Profile.safeParse({ ...base, firmware: 'bios', secureBoot: true }).error?.issues, [{ path: ['secureBoot'] }]);
  t.match(Profile.safeParse({ ...base, firmware: 'bios', arch: 'aarch64' }).error?.issues, [{ path: ['firmware'] }]);
  t.ok(Profile.safeParse({ ...base, arch: 'aarch64', secureBoot: true }).success);
});
