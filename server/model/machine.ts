import { z } from 'zod';
import { CidrV4, Hostname, Ident, IPv4, Mac } from './primitives.js';

export const BmcDriver = z.enum(['redfish', 'ipmi', 'ssh', 'manual']);

export const Bmc = z
  .object({
    driver: BmcDriver,
    address: z.string().min(1).optional().describe('redfish: https URL; ipmi: host or host:port; ssh: defaults to the machine address'),
    username: z.string().optional(),
    password: z.string().optional().describe('write-only: never returned by the API nor logged'),
    passwordFile: z.string().optional().describe('path to a file holding the password, read at use'),
    tls: z
      .object({
        verify: z.boolean().default(true),
        ca: z.string().optional().describe('PEM file of the CA that signed the BMC certificate'),
        fingerprint: z.string().regex(/^([0-9A-Fa-f]{2}:?){32}$/).optional().describe('sha256 of the BMC certificate'),
      })
      .default({ verify: true }),
    systemId: z.string().optional().describe('redfish: member of /redfish/v1/Systems; found when only one'),
    auth: z.enum(['session', 'basic']).optional().describe('redfish: session (default; the password crosses the wire once) or HTTP Basic'),
    timeoutSeconds: z.number().int().min(1).max(600).default(20),
  })
  .superRefine((b, ctx) => {
    if ((b.driver === 'redfish' || b.driver === 'ipmi') && !b.address)
      ctx.addIssue({ code: 'custom', path: ['address'], message: `driver ${b.driver} needs an address` });
    if (b.password !== undefined && b.passwordFile !== undefined)
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'give password or passwordFile, not both' });
    if (b.driver === 'redfish' && b.address && !/^https?:\/\//.test(b.address))
      ctx.addIssue({ code: 'custom', path: ['address'], message: 'redfish address must be an http(s) URL' });
  });
export type Bmc = z.infer<typeof Bmc>;

export const Machine = z
  .object({
    name: Hostname,
    macs: z.array(Mac).min(1).describe('the first MAC is the boot NIC unless nics says otherwise'),
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
    params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  })
  .superRefine((m, ctx) => {
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
