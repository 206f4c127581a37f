import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JsonLines } from './json-lines.js';
import type { Netns } from './netns.js';
import type { DiscoveryStubConfig, DiscoveryStubEvent, DiscoveryStubMachine } from './stub-discovery-server-main.js';

export type { DiscoveryStubEvent, DiscoveryStubMachine };

const MAIN = fileURLToPath(new URL('./stub-discovery-server-main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Starts the discovery stub (boot path, agent script, inventory and poll endpoints) inside `ns`;
 * resolves once it listens. dnsmasq points iPXE at `${url}/boot/ipxe?mac=${net0/mac}`.
 */
export async function startStubDiscoveryServer(
  ns: Netns,
  opts: { port: number; assetsDir: string; agentFile: string; machines: DiscoveryStubMachine[] },
): Promise<{ url: string; events: JsonLines<DiscoveryStubEvent> }> {
  const config: DiscoveryStubConfig = { host: ns.serverAddress, ...opts };
  const file = join(ns.workDir, `stub-discovery-server-${opts.port}.json`);
  await writeFile(file, JSON.stringify(config));
  const child = ns.spawn(process.execPath, ['--import', 'tsx', MAIN, file], { cwd: REPO_ROOT });
  const events = new JsonLines<DiscoveryStubEvent>(child.stdout!);
  child.stderr!.on('data', (d) => process.stderr.write(`[stub-discovery-server] ${d}`));
  await events.waitFor((e) => e.type === 'listening', 20_000, 'listening line from the discovery stub');
  return { url: `http://${ns.serverAddress}:${opts.port}`, events };
}
