import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JsonLines } from './json-lines.js';
import type { Netns } from './netns.js';
import type { StubConfig, StubEvent, StubMachine } from './stub-boot-server-main.js';

export type { StubEvent, StubMachine };

export interface StubBootServer {
  url: string;
  events: JsonLines<StubEvent>;
}

const MAIN = fileURLToPath(new URL('./stub-boot-server-main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Starts the baseline's HTTP boot server inside `ns` (boot path, callbacks, and the discovery
 * endpoints; the agent script only with `agentFile`); resolves once it listens. dnsmasq points
 * iPXE at `${url}/boot/ipxe?mac=${net0/mac}`.
 */
export async function startStubBootServer(
  ns: Netns,
  opts: { port: number; assetsDir: string; agentFile?: string; machines: StubMachine[] },
): Promise<StubBootServer> {
  const config: StubConfig = { host: ns.serverAddress, ...opts };
  const file = join(ns.workDir, `stub-boot-server-${opts.port}.json`);
  await writeFile(file, JSON.stringify(config));
  const child = ns.spawn(process.execPath, ['--import', 'tsx', MAIN, file], { cwd: REPO_ROOT });
  const events = new JsonLines<StubEvent>(child.stdout!);
  child.stderr!.on('data', (d) => process.stderr.write(`[stub-boot-server] ${d}`));
  await events.waitFor((e) => e.type === 'listening', 20_000, 'listening line from the stub boot server');
  return { url: `http://${ns.serverAddress}:${opts.port}`, events };
}
