import { nicMap, type Machine } from '../model/machine.js';
import { parseCidr } from '../model/primitives.js';
import type { Profile } from '../model/profile.js';

/**
 * The machine's network as kickstart's `network` command needs it: one entry per device
 * (pykickstart refuses two lines for the same --device, so a VLAN rides on its parent's line,
 * the way anaconda builds VLAN-over-bond). Physical NICs are named by MAC; bond and bridge
 * ports by role, because anaconda takes port *names* there, and the iPXE script pins each
 * role's name to its MAC with `ifname=` (anaconda carries those names into the installed system).
 */
export type Ipv4Method = 'dhcp' | 'static' | 'none';

export interface NetworkLine {
  device: string;
  bondslaves: string | null;
  bondopts: string | null;
  bridgeslaves: string | null;
  vlanid: number | null;
  ipv4: Ipv4Method;
  ip: string | null;
  netmask: string | null;
  gateway: string | null;
  nameservers: string | null;
  dnsSearch: string | null;
  mtu: number | null;
}

export interface StaticAddress {
  address: string;
  prefix: number;
  netmask: string;
  gateway: string | null;
  dns: string[];
}

export interface NetworkPlan {
  lines: NetworkLine[];
  /** role → MAC for every role the profile uses and the machine maps */
  roles: Record<string, string>;
  bootMac: string;
  /** the role of the boot NIC, when the profile uses it */
  bootRole: string | null;
  /** how the boot NIC itself is addressed, when it carries its own address (not a port, no VLAN) */
  bootIpv4: Ipv4Method | null;
  static: StaticAddress | null;
}

export function profileRoles(profile: Profile): string[] {
  return profile.network.interfaces.map((i) => i.role);
}

export function staticAddress(machine: Machine, profile: Profile): StaticAddress | null {
  if (!machine.ipv4) return null;
  const { address, prefix, netmask } = parseCidr(machine.ipv4.address);
  const dns = [...new Set([...machine.ipv4.dns, ...profile.network.dns])];
  return { address, prefix, netmask, gateway: machine.ipv4.gateway ?? null, dns };
}

export function planNetwork(machine: Machine, profile: Profile): NetworkPlan {
  const net = profile.network;
  const mapped = nicMap(machine, profileRoles(profile));
  const roles = Object.fromEntries(profileRoles(profile).filter((r) => mapped[r]).map((r) => [r, mapped[r]]));
  const ports = new Set([...net.bonds.flatMap((b) => b.members), ...net.bridges.flatMap((b) => b.members)]);
  const addr = staticAddress(machine, profile);
  const vlanOn = (parent: string) => net.vlans.find((v) => v.parent === parent);

  const line = (device: string, ipv4: Ipv4Method, extra: Partial<NetworkLine>): NetworkLine => ({
    device,
    bondslaves: null,
    bondopts: null,
    bridgeslaves: null,
    vlanid: null,
    ipv4,
    ip: ipv4 === 'static' ? (addr?.address ?? null) : null,
    netmask: ipv4 === 'static' ? (addr?.netmask ?? null) : null,
    gateway: ipv4 === 'static' ? (addr?.gateway ?? null) : null,
    nameservers: null,
    dnsSearch: null,
    mtu: null,
    ...extra,
  });

  const lines: NetworkLine[] = [];
  for (const nic of net.interfaces) {
    if (ports.has(nic.role)) continue;
    const vlan = vlanOn(nic.role);
    lines.push(line(roles[nic.role] ?? nic.role, vlan ? vlan.ipv4 : nic.ipv4, { vlanid: vlan?.id ?? null, mtu: nic.mtu ?? null }));
  }
  for (const bond of net.bonds) {
    const vlan = vlanOn(bond.name);
    lines.push(
      line(bond.name, vlan ? vlan.ipv4 : bond.ipv4, {
        bondslaves: bond.members.join(','),
        bondopts: [`mode=${bond.mode}`, ...(bond.options ? bond.options.split(',') : [])].join(','),
        vlanid: vlan?.id ?? null,
        mtu: bond.mtu ?? null,
      }),
    );
  }
  for (const bridge of net.bridges) lines.push(line(bridge.name, bridge.ipv4, { bridgeslaves: bridge.members.join(',') }));

  // Resolver settings belong to the device that carries the default route.
  const primary = lines.find((l) => l.ipv4 === 'static') ?? lines.find((l) => l.ipv4 === 'dhcp');
  if (primary) {
    const dns = primary.ipv4 === 'static' ? (addr?.dns ?? []) : net.dns;
    primary.nameservers = dns.length ? dns.join(',') : null;
    primary.dnsSearch = net.search.length ? net.search.join(',') : null;
  }

  const bootMac = machine.macs[0];
  const bootRole = Object.entries(roles).find(([, mac]) => mac === bootMac)?.[0] ?? null;
  const bootNic = net.interfaces.find((i) => i.role === bootRole);
  const bootIpv4 = bootNic && !ports.has(bootNic.role) && !vlanOn(bootNic.role) ? bootNic.ipv4 : null;
  return { lines, roles, bootMac, bootRole, bootIpv4, static: addr };
}
