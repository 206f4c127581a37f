/** A TFTP server on an ephemeral loopback port over a temporary root, with its events collected. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Test } from 'tap';
import type { BootEvent } from '../../server/model/events.js';
import { startTftpServer, type TftpServer, type TftpServerOptions } from '../../server/tftp/server.js';

export const run = promisify(execFile);

/** Runs a client that is expected to fail: exit code and output instead of a rejection. */
export async function attempt(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    return { code: 0, ...(await run(cmd, args)) };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export interface Fixture {
  root: string;
  server: TftpServer;
  events: BootEvent[];
  url(file: string): string;
}

export async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ks-tftp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function withServer(t: Test, options: Partial<TftpServerOptions> = {}): Promise<Fixture> {
  const root = options.root ?? (await tempDir(t));
  const events: BootEvent[] = [];
  const server = await startTftpServer({
    root,
    host: '127.0.0.1',
    port: 0,
    maxTransfers: 64,
    maxTransfersPerAddress: 64,
    sink: { report: (e) => events.push(e) },
    ...options,
  });
  t.teardown(() => server.close());
  return { root, server, events, url: (file) => `tftp://127.0.0.1:${server.port}/${file}` };
}

/** Resolves once cond() holds, polling; fails the wait after timeoutMs. */
export async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
