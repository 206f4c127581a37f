import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Config } from '../config/schema.js';
import { underRoot } from './send-file.js';

export class AssetError extends Error {}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Checks every configured boot asset against its sha256 at start-up: a machine must never
 * boot a truncated or swapped kernel. All problems are reported at once, each naming the file.
 */
export async function verifyAssets(assets: Config['assets']): Promise<void> {
  const problems: string[] = [];
  for (const [name, a] of Object.entries(assets.files)) {
    const file = underRoot(assets.dir, a.path);
    if (!file) {
      problems.push(`assets.files.${name}: path ${a.path} leaves ${assets.dir}`);
      continue;
    }
    const got = await sha256(file).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? 'missing' : `unreadable (${e.code})`));
    if (got === 'missing' || got.startsWith('unreadable')) problems.push(`assets.files.${name}: ${file} is ${got}`);
    else if (got !== a.sha256) problems.push(`assets.files.${name}: ${file} has sha256 ${got}, config says ${a.sha256}`);
  }
  if (problems.length) throw new AssetError(`boot assets refused:\n  ${problems.join('\n  ')}`);
}
