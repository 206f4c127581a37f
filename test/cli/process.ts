import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { cleanEnv } from '../helpers/env.js';

const ROOT = join(import.meta.dirname, '..', '..');
const kickstand = (root: string) => join(root, 'bin', 'kickstand');

/**
 * Starts `kickstand serve` as a real process and waits for its banner's HTTP port. It sees no
 * KICKSTAND_* variable of the caller's, only loopback, ephemeral ports and `env`. `root`: the
 * tree whose bin/kickstand runs, in its own directory.
 */
export async function startServe(env: Record<string, string>, root = ROOT): Promise<{ proc: ChildProcess; port: number; stderr: () => string; stdout: () => string }> {
  const proc = spawn(kickstand(root), ['serve'], { cwd: root, env: cleanEnv({ KICKSTAND_HTTP_HOST: '127.0.0.1', KICKSTAND_HTTP_PORT: '0', KICKSTAND_TFTP_PORT: '0', ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${err}`)), 60000);
    proc.stderr!.on('data', (d) => {
      err += d;
      const m = /HTTP\s+\S+:(\d+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on('exit', (code) => reject(new Error(`serve exited with ${code}:\n${err}`)));
  });
  return { proc, port, stderr: () => err, stdout: () => out };
}

/** Runs the CLI to completion, with no KICKSTAND_* variable of the caller's, only `env`. */
export function cli(args: string[], env: Record<string, string>, root = ROOT): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(kickstand(root), args, { cwd: root, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
