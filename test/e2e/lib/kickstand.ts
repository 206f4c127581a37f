/**
 * kickstand as the only DHCP, TFTP and HTTP server of a test namespace: `bin/kickstand serve`
 * started inside it with DHCP authoritative on the bridge, TFTP on port 69 (firmware PXE asks
 * there), the guest kernel and initramfs as the rocky-9 boot assets (with their sha256), and an
 * inventory of the test's VMs (BMC `manual` unless a machine names one). The operator API is
 * reached through a unix-socket relay.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { parseCidr } from '../../../server/model/primitives.js';
import { cleanEnv } from '../../helpers/env.js';
import type { GuestImage } from './guest-image.js';
import { E2E_DISK } from './installed-system.js';
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
  /**
   * The VM has the installed-system disk (installed-system.ts): its profile then carries
   * E2E_CONVERGE_STEPS, which the converger runs in the VM once it boots from that disk.
   */
  installed?: boolean;
}

/**
 * What the converger does on an installed VM, one step of each kind the installed system can
 * serve (its shims stand in for dnf, rpm and systemctl), ending in a reboot: the machine is
 * `ready` only after it came back from the disk with the same host key.
 */
export const E2E_CONVERGE_STEPS = [
  { name: 'chrony', kind: 'packages', packages: ['chrony'] },
  { name: 'chrony-conf', kind: 'file', path: '/etc/chrony.conf', content: 'server 10.77.0.1 iburst\n', mode: '0644' },
  { name: 'chronyd', kind: 'service', service: 'chronyd', restartOn: ['chrony-conf'] },
  { name: 'marker', kind: 'command', run: 'hostname > /etc/kickstand-converged', creates: '/etc/kickstand-converged' },
  { name: 'reboot', kind: 'reboot' },
];

export interface Kickstand {
  url: string;
  token: string;
  api: NsHttp;
  /** kickstand's own log lines (pino JSON on stdout). */
  logs: JsonLines;
  stderr(): string;
  /** The kickstand process itself (bin/kickstand execs node: this pid is the service). */
  process: ChildProcess;
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

function profileName(m: Pick<KickstandMachine, 'firmware' | 'installed'>): string {
  return `e2e-${m.firmware}${m.installed ? '-installed' : ''}`;
}

/**
 * A profile the stand-in can "install": one disk, DHCP on one NIC; converge steps only for VMs
 * with an installed system to reach (without one, the machine goes from installed to ready). The
 * install's %pre report must find the disk where the profile says (the fit check), so every VM
 * has one in that slot.
 */
function profile(m: Pick<KickstandMachine, 'firmware' | 'installed'>) {
  return e2eProfile(profileName(m), m.firmware, { converge: !!m.installed });
}

/** The e2e profile as an inventory document, for tests that register their own machines. */
export function e2eProfile(name: string, firmware: Firmware, opts: { converge: boolean; ipv4?: 'dhcp' | 'static' }) {
  return {
    kind: 'profile',
    name,
    os: 'rocky-9',
    firmware,
    disks: [{ name: 'sys0', path: E2E_DISK.path }],
    storage: { layout: 'single', disks: ['sys0'], volumes: [{ name: 'root', mount: '/', fstype: 'xfs', sizeGiB: 4, grow: true }] },
    network: { interfaces: [{ role: 'data0', ipv4: opts.ipv4 ?? 'dhcp' }] },
    converge: opts.converge ? E2E_CONVERGE_STEPS : [],
  };
}

export interface KickstandOptions {
  guest: GuestImage;
  machines: KickstandMachine[];
  /** Merged over the test config (top-level keys), e.g. `{ unknownMachines: 'discover' }`. */
  config?: Record<string, unknown>;
  /** Extra inventory documents (profiles, rules), written or POSTed with the others. */
  documents?: { kind: string; name: string }[];
  /**
   * How profiles and machines get in: `inventory` (default), YAML files applied at start; `api`,
   * an empty inventory and one `POST /api/v1/profiles` and `POST /api/v1/machines` each once
   * kickstand runs, as an operator registers a new rack.
   */
  register?: 'inventory' | 'api';
  /**
   * The address machines are told to use (http.publicUrl, dhcp.serverAddress), when it is not
   * the namespace's own: a floating address that follows whichever instance is alive.
   */
  address?: string;
  /** Merged over the dhcp section (e.g. `{ standby: true }`). */
  dhcp?: Record<string, unknown>;
}

export async function startKickstand(ns: Netns, opts: KickstandOptions): Promise<Kickstand> {
  const dir = join(ns.workDir, 'kickstand');
  const assets = join(dir, 'assets');
  const inventory = join(dir, 'inventory');
  await mkdir(join(assets, 'rocky-9'), { recursive: true });
  await mkdir(inventory, { recursive: true });
  await copyFile(opts.guest.kernel, join(assets, 'rocky-9', 'vmlinuz'));
  await copyFile(opts.guest.initrd, join(assets, 'rocky-9', 'initrd.img'));
  const profiles = [...new Map(opts.machines.map((m) => [profileName(m), profile(m)])).values(), ...(opts.documents ?? []).filter((d) => d.kind === 'profile')];
  const rules = (opts.documents ?? []).filter((d) => d.kind === 'rule');
  const machines = opts.machines.map((m) => ({ kind: 'machine', name: m.name, profile: profileName(m), macs: [m.mac], bmc: m.bmc ?? { driver: 'manual' }, params: { console: 'ttyS0' } }));
  const viaApi = opts.register === 'api';
  if (!viaApi) for (const doc of [...profiles, ...machines, ...rules]) await writeFile(join(inventory, `${doc.kind}-${doc.name}.yaml`), stringify(doc));

  const subnet = parseCidr(`${ns.serverAddress}/${ns.prefixLength}`);
  const hostAt = (n: number) => subnet.network.replace(/\d+$/, String(n));
  const token = randomBytes(24).toString('hex');
  const address = opts.address ?? ns.serverAddress;
  const url = `http://${address}:${HTTP_PORT}`;
  const config = {
    dataDir: join(dir, 'data'),
    inventory,
    http: { host: '0.0.0.0', port: HTTP_PORT, publicUrl: url },
    tftp: { enabled: true, host: '0.0.0.0', port: 69, root: '/usr/lib/ipxe' },
    dhcp: {
      mode: 'authoritative',
      interface: ns.bridge,
      serverAddress: address,
      subnets: [{ cidr: `${subnet.network}/${subnet.prefix}`, range: [hostAt(50), hostAt(150)], leaseSeconds: 3600 }],
      ...opts.dhcp,
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
    // The agent in every install's %pre listens for LLDP this long; the e2e switches (lldpd on a
    // tap, when a test starts one) send every second.
    discovery: { lldpWaitSeconds: 4, kernelArgs: ['console=ttyS0'] },
    ...opts.config,
  };
  const configFile = join(dir, 'config.yaml');
  await writeFile(configFile, stringify(config));

  // KICKSTAND_* from the caller's environment would override the test's config.
  const child = ns.spawn(join(REPO_ROOT, 'bin', 'kickstand'), ['serve', '--config', configFile], { cwd: REPO_ROOT, env: cleanEnv() });
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
  if (viaApi) {
    const post = async (path: string, { kind: _, ...body }: { kind: string; name: string }) => {
      const r = await api('POST', path, { token, body });
      if (r.status !== 201) throw new Error(`POST ${path} ${body.name}: HTTP ${r.status} ${r.text}`);
    };
    for (const p of profiles) await post('/api/v1/profiles', p);
    for (const m of machines) await post('/api/v1/machines', m);
    for (const r of rules) await post('/api/v1/rules', r);
  }
  return { url, token, api, logs, stderr: () => stderr, process: child };
}
