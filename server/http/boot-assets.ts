import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Config } from '../config/schema.js';
import { resolveConfined } from '../files/confine.js';
import { safeRelativePath } from '../files/path.js';

export class AssetError extends Error {}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The paths of the pinned assets under assets.dir, as TFTP serves them too (shim, GRUB, what GRUB loads). */
export function pinnedAssetPaths(assets: Config['assets']): Set<string> {
  const paths = new Set<string>();
  for (const a of Object.values(assets.files)) {
    const safe = safeRelativePath(a.path);
    if (safe.ok) paths.add(safe.path);
  }
  return paths;
}

/**
 * Checks every configured boot asset against its sha256 at start-up: a machine must never
 * boot a truncated or swapped kernel. All problems are reported at once, each naming the file.
 * The path rules are /boot/assets' own (safeRelativePath, then symlinks must stay inside
 * assets.dir), so an asset that passes here is one the route will serve.
 */
export async function verifyAssets(assets: Config['assets']): Promise<void> {
  const problems: string[] = [];
  for (const [name, a] of Object.entries(assets.files)) {
    const safe = safeRelativePath(a.path);
    if (!safe.ok) {
      problems.push(`assets.files.${name}: path ${a.path} leaves ${assets.dir} (${safe.reason})`);
      continue;
    }
    const resolved = await resolveConfined(assets.dir, safe.path);
    if (!resolved.ok && resolved.why === 'outside') {
      problems.push(`assets.files.${name}: path ${a.path} resolves outside ${assets.dir} (a symlink out of the assets directory is not served)`);
      continue;
    }
    const file = resolved.ok ? resolved.real : `${assets.dir}/${safe.path}`;
    if (!resolved.ok && resolved.why === 'missing') {
      problems.push(`assets.files.${name}: ${file} is missing`);
      continue;
    }
    const got = resolved.ok
      ? await sha256(file).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? 'missing' : `unreadable (${e.code})`))
      : `unreadable (${resolved.code ?? resolved.why})`;
    if (got === 'missing' || got.startsWith('unreadable')) problems.push(`assets.files.${name}: ${file} is ${got}`);
    else if (got !== a.sha256) problems.push(`assets.files.${name}: ${file} has sha256 ${got}, config says ${a.sha256}`);
  }
  if (problems.length) throw new AssetError(`boot assets refused:\n  ${problems.join('\n  ')}`);
}
