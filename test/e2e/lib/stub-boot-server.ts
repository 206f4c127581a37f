import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JsonLines } from './json-lines.js';
import type { Netns } from './netns.js';
import type { StubConfig, StubEvent, StubMachine } from './stub-boot-server-main.js';

export type { StubEvent, StubMachine };

const MAIN = fileURLToPath(new URL('./stub-boot-server-main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Starts the baseline's HTTP boot server inside `ns`; resolves once it listens. */
export async function startStubBootServer(
  ns: Netns,
  opts: { port: number; assetsDir: string; machines: StubMachine[] },
): Promise<{ url: string; events: JsonLines<StubEvent> }> {
  const config: StubConfig = { host: ns.serverAddress, ...opts };
  const file = join(ns.workDir, 'stub-boot-server.json');
  await writeFile(file, JSON.stringify(config));
  const child = ns.spawn(process.execPath, ['--import', 'tsx', MAIN, file], { cwd: REPO_ROOT });
  const events = new JsonLines<StubEvent>(child.stdout!);
  child.stderr!.on('data', (d) => process.stderr.write(`[stub-boot-server] ${d}`));
  await events.waitFor((e) => e.type === 'listening', 20_000, 'listening line from the stub boot server');
  return { url: `http://${ns.serverAddress}:${opts.port}`, events };
}
