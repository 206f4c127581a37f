/**
 * Several "hosts" on one rack network: a switch namespace (a Netns: its bridge holds the VMs'
 * taps and sends the router advertisements) and one namespace per host, each with a veth
 * "uplink" into the switch's bridge. A host's own bridge holds its address and the uplink, so a
 * kickstand in it binds DHCP to `br0` as in the one-namespace harness. Two kickstand instances in
 * two such hosts are two machines on one segment: killing one process leaves the other's
 * network untouched.
 */
import { Netns } from './netns.js';
import { run } from './run.js';

let uplinks = 0;

/**
 * A host namespace with `cidr` on its bridge, cabled into `sw`'s bridge. Destroyed like any
 * Netns (the veth pair goes with it).
 */
export async function hostOnSwitch(sw: Netns, cidr: string): Promise<Netns> {
  const host = await Netns.create({ taps: 0, serverCidr: cidr });
  try {
    // The harness gives every bridge fd77::1; one per segment is enough (the switch's).
    await run('ip', ['-n', host.name, 'addr', 'del', 'fd77::1/64', 'dev', host.bridge]);
    const port = `up${uplinks++}`;
    await run('ip', ['-n', sw.name, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'uplink', 'netns', host.name]);
    await run('ip', ['-n', sw.name, 'link', 'set', port, 'master', sw.bridge]);
    await run('ip', ['-n', sw.name, 'link', 'set', port, 'up']);
    await run('ip', ['-n', host.name, 'link', 'set', 'uplink', 'master', host.bridge]);
    await run('ip', ['-n', host.name, 'link', 'set', 'uplink', 'up']);
    return host;
  } catch (err) {
    await host.destroy();
    throw err;
  }
}

/** The IPv4 addresses on a namespace's bridge. */
export async function bridgeAddresses(ns: Netns): Promise<string[]> {
  const out = JSON.parse(await run('ip', ['-n', ns.name, '-j', '-4', 'addr', 'show', 'dev', ns.bridge])) as { addr_info?: { local: string }[] }[];
  return (out[0]?.addr_info ?? []).map((a) => a.local);
}

/** The pids of every process still running inside a namespace. */
export async function namespacePids(ns: Netns): Promise<number[]> {
  return (await run('ip', ['netns', 'pids', ns.name])).split('\n').filter(Boolean).map(Number);
}
