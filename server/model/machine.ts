import { z } from 'zod';
import { AbsolutePath, CidrV4, Hostname, Ident, IPv4, Mac } from './primitives.js';

export const BmcDriver = z.enum(['redfish', 'ipmi', 'ssh', 'manual']);

/**
 * Files kickstand reads for a BMC (passwordFile, tls.ca) must lie in a secrets directory
 * (config `secrets.dirs`). The schema cannot know the config, so it refuses what is wrong
 * anywhere (relative paths, "..", odd characters); server/power/credentials.ts checks the real
 * path (symlinks resolved) against the directories at each use.
 */
const SecretFile = AbsolutePath.describe('absolute path of a file inside a secrets directory (config secrets.dirs), read at use');

/** ipmi: host, host:port, IPv6 or [IPv6]:port. */
const IPMI_ADDRESS = /^(\[[0-9A-Fa-f:.]+\](:\d{1,5})?|[A-Za-z0-9.-]+(:\d{1,5})?|[0-9A-Fa-f:.]+)$/;
/** ssh: a host name or address the converger connects to. */
const SSH_ADDRESS = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+)$/;

export const Bmc = z
  .object({
    driver: BmcDriver,
    address: z
      .string()
      .min(1)
      .max(2048)
      .optional()
      .describe('redfish: https URL (http:// only with plainHttp); ipmi: host or host:port; ssh: defaults to the machine address'),
    plainHttp: z
      .boolean()
      .optional()
      .describe('redfish: allow an http:// address, which sends the BMC credentials unencrypted (default false)'),
    username: z
      .string()
      .regex(/^[^\x00-\x1f\x7f:]{1,64}$/, 'a user name of at most 64 characters, without ":" or control characters')
      .optional(),
    password: z
      .string()
      .regex(/^[^\x00-\x1f\x7f]*$/, 'must not hold line breaks or control characters')
      .optional()
      .describe('write-only: never returned by the API nor logged'),
    passwordFile: SecretFile.optional(),
    tls: z
      .object({
        verify: z.boolean().default(true),
        ca: SecretFile.optional().describe('PEM file of the CA that signed the BMC certificate, inside a secrets directory'),
        fingerprint: z.string().regex(/^([0-9A-Fa-f]{2}:?){32}$/).optional().describe('sha256 of the BMC certificate'),
      })
      .default({ verify: true }),
    systemId: z
      .string()
      .regex(/^[A-Za-z0-9_.:@/-]{1,256}$/, 'a Redfish system id or its @odata.id path')
      .optional()
      .describe('redfish: member of /redfish/v1/Systems; found when only one'),
    auth: z.enum(['session', 'basic']).optional().describe('redfish: session (default; the password crosses the wire once) or HTTP Basic'),
    timeoutSeconds: z.number().int().min(1).max(600).default(20),
    addressFrom: z
      .enum(['discovery'])
      .optional()
      .describe('discovery: a replacement box reporting its BMC address (ipmitool lan print) updates address, keeping the credentials'),
  })
  .superRefine((b, ctx) => {
    if ((b.driver === 'redfish' || b.driver === 'ipmi') && !b.address)
      ctx.addIssue({ code: 'custom', path: ['address'], message: `driver ${b.driver} needs an address` });
    if (b.password !== undefined && b.passwordFile !== undefined)
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'give password or passwordFile, not both' });
    if (b.address === undefined) return;
    const problem = bmcAddressProblem(b);
    if (problem) ctx.addIssue({ code: 'custom', path: ['address'], message: problem });
  });

/** What is wrong with a BMC address for its driver, or undefined; the power drivers ask again at use. */
export function bmcAddressProblem(b: { driver: BmcDriver; address?: string; plainHttp?: boolean }): string | undefined {
  const address = b.address ?? '';
  switch (b.driver) {
    case 'redfish': {
      if (!/^https?:\/\/[A-Za-z0-9\-._~:/[\]%]+$/.test(address) || !URL.canParse(address)) return 'redfish address must be an http(s) URL, e.g. https://10.0.0.21';
      const url = new URL(address);
      if (url.username || url.password) return 'redfish address must not carry credentials: give bmc.username and bmc.password or bmc.passwordFile';
      if (url.protocol === 'http:' && !b.plainHttp)
        return 'http:// sends the BMC credentials unencrypted: use https://, or set bmc.plainHttp: true to allow it';
      return undefined;
    }
    case 'ipmi':
      return IPMI_ADDRESS.test(address) ? undefined : 'ipmi address must be host, host:port or [IPv6]:port';
    case 'ssh':
      return SSH_ADDRESS.test(address) ? undefined : 'ssh address must be a host name or IP address';
    case 'manual':
      return /^[^\x00-\x20\x7f"'`$\\]+$/.test(address) ? undefined : 'address must be one word without quotes, backslash, backtick or $';
  }
}
export type BmcDriver = z.infer<typeof BmcDriver>;
export type Bmc = z.infer<typeof Bmc>;

/** Parameter names, as converge templates read them ({{params.rack}}). */
const ParamName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/, 'a parameter name: a letter or _, then letters, digits, _ . -');
/** Parameter values are one line of text; params.console also reaches the kernel command line (see CONSOLE). */
const ParamValue = z.string().max(1024).regex(/^[^\x00-\x1f\x7f]*$/, 'one line of text, without line breaks or control characters');
/** A kernel console= value: a device, then optional comma-separated options (ttyS0,115200n8; uart8250,io,0x3f8). */
export const CONSOLE = /^[A-Za-z][A-Za-z0-9]*(,[A-Za-z0-9.]+)*$/;

/** Where one NIC role is cabled, as LLDP names it: the switch's system name (or chassis id), the port id (or description). */
export const CablingPort = z.object({
  switch: z.string().min(1).max(256).regex(/^[^\x00-\x1f\x7f]*$/, 'one line of text').describe('LLDP system name or chassis id'),
  port: z.string().min(1).max(256).regex(/^[^\x00-\x1f\x7f]*$/, 'one line of text').describe('LLDP port id or port description'),
});

export const Machine = z
  .object({
    name: Hostname,
    macs: z
      .array(Mac)
      .default([])
      .describe('the first MAC is the boot NIC unless nics says otherwise; may be empty for a cabled slot waiting for its first box'),
    cabling: z
      .record(Ident, CablingPort)
      .default({})
      .describe('NIC role → switch port: a box whose LLDP neighbours match is this machine (replacement by cabling)'),
    replace: z
      .enum(['auto', 'confirm', 'never'])
      .default('confirm')
      .describe('a new box in this slot: auto takes it over at once, confirm waits for an accept, never ignores it'),
    profile: Ident,
    nics: z.record(Ident, Mac).default({}).describe('profile NIC role → MAC; missing roles map in order of macs'),
    ipv4: z
      .object({ address: CidrV4, gateway: IPv4.optional(), dns: z.array(IPv4).default([]) })
      .optional()
      .describe('static address for the profile device whose ipv4 is static'),
    ssh: z
      .object({ port: z.number().int().min(1).max(65535).default(22) })
      .optional()
      .describe('where the installed host answers SSH for the converger'),
    bmc: Bmc.default({ driver: 'manual', tls: { verify: true }, timeoutSeconds: 20 }),
    params: z
      .record(ParamName, z.union([ParamValue, z.number(), z.boolean()]))
      .default({})
      .describe('free parameters for converge templates; console (e.g. ttyS0,115200n8) is the serial console of the installer and the host'),
  })
  .superRefine((m, ctx) => {
    const console = m.params.console;
    if (console !== undefined && !(typeof console === 'string' && CONSOLE.test(console)))
      ctx.addIssue({ code: 'custom', path: ['params', 'console'], message: 'a console like ttyS0 or ttyS0,115200n8 (it goes onto the kernel command line)' });
    if (m.macs.length === 0 && Object.keys(m.cabling).length === 0)
      ctx.addIssue({ code: 'custom', path: ['macs'], message: 'a machine needs at least one MAC, or cabling to be found by' });
    const seen = new Set<string>();
    m.macs.forEach((mac, i) => {
      if (seen.has(mac)) ctx.addIssue({ code: 'custom', path: ['macs', i], message: `duplicate MAC ${mac}` });
      seen.add(mac);
    });
    for (const [role, mac] of Object.entries(m.nics))
      if (!seen.has(mac)) ctx.addIssue({ code: 'custom', path: ['nics', role], message: `${mac} is not one of macs` });
  });
export type Machine = z.infer<typeof Machine>;
export type MachineInput = z.input<typeof Machine>;

/** The role→MAC map a renderer uses: explicit nics first, then remaining MACs in order. */
export function nicMap(machine: Machine, roles: string[]): Record<string, string> {
  const out: Record<string, string> = { ...machine.nics };
  const free = machine.macs.filter((m) => !Object.values(out).includes(m));
  for (const role of roles) if (!out[role] && free.length) out[role] = free.shift()!;
  return out;
}

/** What the API returns: the machine with its BMC secret removed. */
export function publicMachine(m: Machine): Machine & { bmc: Machine['bmc'] & { passwordSet: boolean } } {
  const { password, ...bmc } = m.bmc;
  return { ...m, bmc: { ...bmc, passwordSet: password !== undefined || bmc.passwordFile !== undefined } };
}
