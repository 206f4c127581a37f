/**
 * kickstand as the only DHCP, TFTP and HTTP server of a test namespace: `bin/kickstand serve`
 * started inside it with DHCP authoritative on the bridge, TFTP on port 69 (firmware PXE asks
 * there), the guest kernel and initramfs as the rocky-9 boot assets (with their sha256), and an
 * inventory of the test's VMs (BMC `manual` unless a machine names one). The operator API is
 * reached through a unix-socket relay.
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { parseCidr } from '../../../server/inventory/primitives.js';
import type { GuestImage } from './guest-image.js';
import { JsonLines } from './json-lines.js';
import type { Netns } from './netns.js';
import { nsHttp, type NsHttp } from './ns-http.js';
import type { Firmware } from './vm.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HTTP_PORT = 8080;

export interface KickstandMachine {
  name: string;
  mac: string;
  firmware: Firmware;
  /** The machine's `bmc` section; default `{ driver: 'manual' }` (the test powers the VM itself). */
  bmc?: Record<string, unknown>;
}

export interface Kickstand {
  url: string;
  token: string;
  api: NsHttp;
  /** kickstand's own log lines (pino JSON on stdout). */
  logs: JsonLines;
  stderr(): string;
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/**
 * A profile the stand-in can "install": one disk, DHCP on one NIC, no converge steps (this
 * harness proves the boot path; SSH convergence needs an installed system to reach).
 */
function profile(firmware: Firmware) {
  return {
    kind: 'profile',
    name: `e2e-${firmware}`,
    os: 'rocky-9',
    firmware,
    disks: [{ name: 'sys0', path: '/dev/disk/by-path/pci-0000:00:04.0', sizeGiB: 8 }],
    storage: { layout: 'single', disks: ['sys0'], volumes: [{ name: 'root', mount: '/', fstype: 'xfs', sizeGiB: 4, grow: true }] },
    network: { interfaces: [{ role: 'data0', ipv4: 'dhcp' }] },
    converge: [],
  };
}

export async function startKickstand(ns: Netns, opts: { guest: GuestImage; machines: KickstandMachine[] }): Promise<Kickstand> {
  const dir = join(ns.workDir, 'kickstand');
  const assets = join(dir, 'assets');
  const inventory = join(dir, 'inventory');
  await mkdir(join(assets, 'rocky-9'), { recursive: true });
  await mkdir(inventory, { recursive: true });
  await copyFile(opts.guest.kernel, join(assets, 'rocky-9', 'vmlinuz'));
  await copyFile(opts.guest.initrd, join(assets, 'rocky-9', 'initrd.img'));
  for (const firmware of new Set(opts.machines.map((m) => m.firmware))) await writeFile(join(inventory, `profile-${firmware}.yaml`), stringify(profile(firmware)));
  for (const m of opts.machines)
    await writeFile(
      join(inventory, `${m.name}.yaml`),
      stringify({ kind: 'machine', name: m.name, profile: `e2e-${m.firmware}`, macs: [m.mac], bmc: m.bmc ?? { driver: 'manual' }, params: { console: 'ttyS0' } }),
    );

  const subnet = parseCidr(`${ns.serverAddress}/${ns.prefixLength}`);
  const hostAt = (n: number) => subnet.network.replace(/\d+$/, String(n));
  const token = randomBytes(24).toString('hex');
  const url = `http://${ns.serverAddress}:${HTTP_PORT}`;
  const config = {
    dataDir: join(dir, 'data'),
    inventory,
    http: { host: '0.0.0.0', port: HTTP_PORT, publicUrl: url },
    tftp: { enabled: true, host: '0.0.0.0', port: 69, root: '/usr/lib/ipxe' },
    dhcp: {
      mode: 'authoritative',
      interface: ns.bridge,
      serverAddress: ns.serverAddress,
      subnets: [{ cidr: `${subnet.network}/${subnet.prefix}`, range: [hostAt(50), hostAt(150)], leaseSeconds: 3600 }],
    },
    api: { token },
    assets: {
      dir: assets,
      files: {
        'rocky-9/vmlinuz': { path: 'rocky-9/vmlinuz', sha256: await sha256(join(assets, 'rocky-9', 'vmlinuz')) },
        'rocky-9/initrd.img': { path: 'rocky-9/initrd.img', sha256: await sha256(join(assets, 'rocky-9', 'initrd.img')) },
      },
    },
    log: { level: 'info' },
  };
  const configFile = join(dir, 'config.yaml');
  await writeFile(configFile, stringify(config));

  // KICKSTAND_* from the caller's environment would override the test's config.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KICKSTAND_')));
  const child = ns.spawn(join(REPO_ROOT, 'bin', 'kickstand'), ['serve', '--config', configFile], { cwd: REPO_ROOT, env });
  const logs = new JsonLines(child.stdout!);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kickstand did not start within 60 s:\n${stderr}`)), 60_000);
    const check = () => {
      if (/kickstand is running/.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kickstand exited ${code} at start:\n${stderr}\n${logs.text.join('\n')}`));
    });
  });
  const api = await nsHttp(ns, '127.0.0.1', HTTP_PORT);
  return { url, token, api, logs, stderr: () => stderr };
}
