import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { API_TOKEN } from '../api-token.js';
import { CidrV4, IPv4, Sha256 } from '../model/primitives.js';
import { KernelArg } from '../model/profile.js';

const Seconds = z.number().int().positive();

/** An instance name: a DNS label, give or take `_` and `.`. */
export const INSTANCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * The default instance name: the host name, made to fit INSTANCE_NAME (other characters become
 * `-`, cut at 63), `kickstand` when nothing is left of it.
 */
export function defaultInstance(host = hostname()): string {
  const name = host.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[._-]+/, '').slice(0, 63);
  return name || 'kickstand';
}

export const Subnet = z.object({
  cidr: CidrV4.describe('network of the subnet, e.g. 10.0.10.0/24'),
  range: z.tuple([IPv4, IPv4]).optional().describe('dynamic pool; reservations from the inventory are always served'),
  gateway: IPv4.optional(),
  dns: z.array(IPv4).default([]),
  domain: z.string().optional(),
  leaseSeconds: Seconds.default(3600),
});

export const Asset = z.object({
  path: z.string().describe('file under assets.dir'),
  sha256: Sha256.describe('checked at start-up; a mismatch refuses to start'),
});

/** Active lifecycle states and how long each may last before the machine is failed. */
export const Deadlines = z.object({
  'power-cycling': Seconds.default(300),
  'pxe-booting': Seconds.default(600),
  'installer-booting': Seconds.default(900),
  installing: Seconds.default(3600),
  installed: Seconds.default(1200),
  converging: Seconds.default(3600),
});

const ConfigFields = z.object({
  instance: z
    .string()
    .regex(INSTANCE_NAME, 'letters, digits, . - _ (starting with a letter or digit), at most 63')
    .default(() => defaultInstance())
    .describe('this kickstand among those sharing one database: in /healthz, /metrics and every event it writes; with PostgreSQL, two running processes may not share one; default the host name'),
  dataDir: z.string().default('./var'),
  inventory: z.string().default('machines'),
  templatesDir: z.string().default('templates'),
  ignitionDir: z.string().default('ignition'),
  http: z
    .object({
      host: z.string().default('0.0.0.0'),
      port: z.number().int().min(0).max(65535).default(8080),
      publicUrl: z.string().url().optional().describe('base URL machines use to reach kickstand; default from the DHCP interface address'),
      requestTimeoutSeconds: Seconds.default(30).describe('a request (headers and body) must arrive within this'),
      idleTimeoutSeconds: Seconds.default(60).describe('a connection with no traffic this long is closed (event streams send a heartbeat every 15 s)'),
      maxConnections: z.number().int().positive().default(4096).describe('open connections at most; more are refused at accept'),
    })
    .default({ host: '0.0.0.0', port: 8080, requestTimeoutSeconds: 30, idleTimeoutSeconds: 60, maxConnections: 4096 }),
  tftp: z
    .object({
      enabled: z.boolean().default(true),
      host: z.string().default('0.0.0.0'),
      port: z.number().int().min(0).max(65535).default(6969),
      root: z.string().default('/usr/lib/ipxe').describe('iPXE binaries (Debian package ipxe)'),
      symlinkDirs: z
        .array(z.string())
        .default(['/boot'])
        .describe("directories outside root that root's symlinks may point into (Debian's ipxe.efi links to /boot)"),
      maxTransfers: z.number().int().positive().default(256).describe('transfers running at once; a request beyond is refused with an ERROR (server busy)'),
      maxTransfersPerAddress: z
        .number()
        .int()
        .positive()
        .default(8)
        .describe('transfers one client address may run at once, so that one host cannot take every slot (a PXE client runs one or two); raise it for clients behind NAT'),
      timeoutSeconds: Seconds.max(255).default(1).describe('retransmission timeout when the client asks none (RFC 2349 timeout; a client may ask 1 to 5)'),
      retries: z
        .number()
        .int()
        .min(1)
        .max(20)
        .default(5)
        .describe('retransmissions of an unanswered block before a transfer ends: a client that vanished frees its slot within (retries + 1) × the timeout'),
    })
    .default({ enabled: true, host: '0.0.0.0', port: 6969, root: '/usr/lib/ipxe', symlinkDirs: ['/boot'], maxTransfers: 256, maxTransfersPerAddress: 8, timeoutSeconds: 1, retries: 5 }),
  dhcp: z
    .object({
      mode: z.enum(['off', 'proxy', 'authoritative']).default('off'),
      interface: z.string().optional().describe('the one interface DHCP listens and answers on'),
      serverAddress: IPv4.optional().describe('default: the first IPv4 address of the interface'),
      port: z.number().int().min(0).max(65535).default(67),
      proxyPort: z.number().int().min(0).max(65535).default(4011),
      clientPort: z.number().int().min(0).max(65535).default(68),
      unknownMachines: z.enum(['ignore', 'local', 'discover']).default('ignore').describe('older spelling of the top-level unknownMachines, which wins when both are set'),
      tftpServer: IPv4.optional().describe('next-server (siaddr) for TFTP; default: the DHCP server address'),
      bootFiles: z
        .object({
          bios: z.string().optional(),
          'uefi-ia32': z.string().optional(),
          'uefi-x64': z.string().optional().describe('ipxe.efi (default) or snponly.efi'),
          'uefi-arm64': z.string().optional(),
          'shim-x64': z.string().optional().describe('secureBoot profiles, x64: the signed shim, a pinned asset under assets.dir (default grub/shimx64.efi; grubx64.efi beside it)'),
          'shim-arm64': z.string().optional().describe('secureBoot profiles, ARM64: default grub/shimaa64.efi (grubaa64.efi beside it)'),
          'grub-arm64': z.string().optional().describe('aarch64 profiles without Secure Boot: GRUB itself, default grub/grubaa64.efi'),
        })
        .default({})
        .describe('what DHCP hands out per client architecture: iPXE binaries under tftp.root, shim and GRUB as pinned assets'),
      subnets: z.array(Subnet).default([]),
      relays: z
        .array(IPv4)
        .default([])
        .describe('relay agents (giaddr) whose relayed requests are answered; a request relayed through any other is dropped'),
      maxLeasesPerClient: z
        .number()
        .int()
        .positive()
        .default(4)
        .describe('unknownMachines local: addresses one unknown client (relay circuit, else client id, else MAC) may hold at once'),
      unknownLeaseShare: z
        .number()
        .gt(0)
        .max(1)
        .default(0.5)
        .describe("unknownMachines local: share of each subnet's dynamic range that unknown MACs may hold at once; the rest stays for the inventory"),
      standby: z
        .boolean()
        .default(false)
        .describe(
          'several instances on one PostgreSQL: each subnet (proxy mode: the segment, the network of dhcp.interface) is answered by the one instance that holds its lock. true: this instance waits as a hot standby for subnets another holds, and answers them within a second of that holder going away; false: it refuses to start when another instance holds one of its subnets',
        ),
    })
    .default({
      mode: 'off',
      port: 67,
      proxyPort: 4011,
      clientPort: 68,
      unknownMachines: 'ignore',
      subnets: [],
      bootFiles: {},
      relays: [],
      maxLeasesPerClient: 4,
      unknownLeaseShare: 0.5,
      standby: false,
    }),
  store: z
    .object({
      url: z
        .string()
        .regex(/^(sqlite:|postgres(ql)?:\/\/)/, 'sqlite:PATH or postgres://USER@HOST:PORT/DB (postgresql:// too)')
        .optional()
        .describe('where state lives: sqlite:PATH, or PostgreSQL as postgres://USER:PASSWORD@HOST:PORT/DB; default sqlite:DATA_DIR/kickstand.db'),
    })
    .default({}),
  api: z
    .object({
      token: z.string().regex(API_TOKEN, 'at least 16 characters of A-Z a-z 0-9 - . _ ~ + /').optional(),
      listen: z
        .object({ host: z.string().default('0.0.0.0'), port: z.number().int().min(0).max(65535) })
        .optional()
        .describe('serve /api/v1 and /docs on their own listener (then not on http.port, which keeps /boot)'),
      tls: z
        .object({ cert: z.string().min(1).describe('PEM certificate (chain) file'), key: z.string().min(1).describe('PEM private key file') })
        .optional()
        .describe('HTTPS for the api.listen listener'),
    })
    .refine((a) => !a.tls || a.listen, { path: ['tls'], message: 'api.tls needs api.listen: /boot stays plain HTTP for firmware' })
    .default({}),
  tokens: z.object({ ttlSeconds: Seconds.default(7200) }).default({ ttlSeconds: 7200 }),
  unknownMachines: z
    .enum(['ignore', 'local', 'discover'])
    .optional()
    .describe('a netboot from a MAC no machine has: ignore (stay silent), local (boot the local disk) or discover (boot the inventory agent); default dhcp.unknownMachines, else ignore'),
  discovery: z
    .object({
      tokenTtlSeconds: Seconds.default(1800).describe('a discovery boot must report its hardware within this'),
      pollSeconds: Seconds.default(10).describe('how often the agent asks what to do next'),
      maxEntries: z.number().int().positive().default(10000).describe('discovered boxes kept at most; a report beyond is refused until some are accepted or deleted'),
      kernelArgs: z.array(KernelArg).default([]).describe('extra kernel arguments of the discovery boot, e.g. console=ttyS0,115200n8 for serial-over-LAN'),
      lldpWaitSeconds: z.number().int().min(0).max(300).default(35).describe('how long the agent listens for LLDP (switches send every 30 s by default)'),
      replaceQuietSeconds: Seconds.default(600).describe(
        'replace: auto waits until the current box of a slot has not been heard in DHCP or HTTP for this long, and no other box claimed the slot: two live boxes in one slot is a cabling error',
      ),
      image: z
        .object({
          kernel: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.\/-]*$/, 'a file under assets.dir').describe('e.g. live/vmlinuz'),
          initrd: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.\/-]*$/, 'a file under assets.dir'),
          args: z.array(KernelArg).default([]),
        })
        .optional()
        .describe("boot an operator's own live image instead of the Rocky installer; it runs the agent (GET /boot/discovery/agent) with --discover, which takes kickstand.url= and kickstand.token= from the kernel command line"),
    })
    .default({ tokenTtlSeconds: 1800, pollSeconds: 10, maxEntries: 10000, kernelArgs: [], lldpWaitSeconds: 35, replaceQuietSeconds: 600 }),
  deadlines: Deadlines.default(Deadlines.parse({})),
  events: z
    .object({ retainDays: z.number().positive().default(30).describe('events older than this are deleted (hourly)') })
    .default({ retainDays: 30 }),
  assets: z
    .object({
      dir: z.string().default('./var/assets'),
      files: z.record(z.string(), Asset).default({}).describe('name → file and sha256, e.g. rocky-9/vmlinuz'),
    })
    .default({ dir: './var/assets', files: {} }),
  mirrors: z
    .object({
      'rocky-9': z.string().url().default('http://dl.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os'),
      fcos: z.string().url().optional().describe('base URL of the FCOS live kernel, initramfs and rootfs'),
    })
    .default({ 'rocky-9': 'http://dl.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os' }),
  converge: z
    .object({ concurrency: z.number().int().positive().default(20), stepTimeoutSeconds: Seconds.default(900), user: z.string().default('root') })
    .default({ concurrency: 20, stepTimeoutSeconds: 900, user: 'root' }),
  log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).default({ level: 'info' }),
  secrets: z
    .object({
      dirs: z
        .array(z.string().min(1).regex(/^[^\x00-\x1f\x7f]+$/, 'a directory path'))
        .min(1)
        .optional()
        .describe('the only directories bmc.passwordFile and bmc.tls.ca may point into (symlinks resolved); default /etc/kickstand and DATA_DIR/secrets'),
    })
    .default({}),
});

/** The secrets directories when none are configured: /etc/kickstand and DATA_DIR/secrets. */
export function defaultSecretDirs(dataDir: string): string[] {
  return ['/etc/kickstand', join(dataDir, 'secrets')];
}

/**
 * The parsed configuration. secrets.dirs is resolved against dataDir, and unknownMachines against
 * its older dhcp.unknownMachines, here, so every reader sees one value.
 */
export const Config = ConfigFields.transform((c) => {
  const unknownMachines = c.unknownMachines ?? c.dhcp.unknownMachines;
  return { ...c, unknownMachines, dhcp: { ...c.dhcp, unknownMachines }, secrets: { dirs: c.secrets.dirs ?? defaultSecretDirs(c.dataDir) } };
});
export type Config = z.infer<typeof Config>;
export type ConfigInput = z.input<typeof Config>;
