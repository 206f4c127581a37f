import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** RFC 6750's b64token, at least 16 characters: what a bearer header can carry unambiguously. */
export const API_TOKEN = /^[A-Za-z0-9\-._~+/]{16,}=*$/;

export class ApiTokenError extends Error {}

/**
 * The operator API token: from config or env (api.token, checked by the config schema), else the
 * one stored in DATA_DIR/api-token, else a new one written there. A short or malformed stored
 * token refuses the start, naming the file: an empty file must never mean an open API.
 */
export async function loadApiToken(configured: string | undefined, dataDir: string): Promise<{ token: string; file?: string; created: boolean }> {
  if (configured) return { token: configured, created: false };
  const file = join(dataDir, 'api-token');
  if (existsSync(file)) {
    const token = (await readFile(file, 'utf8')).trim();
    if (!API_TOKEN.test(token))
      throw new ApiTokenError(`${file}: the API token must be at least 16 characters of A-Z a-z 0-9 - . _ ~ + / (delete the file to have a new one generated)`);
    return { token, file, created: false };
  }
  const token = randomBytes(24).toString('base64url');
  await writeAtomically(file, `${token}\n`);
  return { token, file, created: true };
}

/** Temp file (0600), fsync, rename, fsync of the directory: a crash leaves the old file or the new one. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const f = await open(tmp, 'wx', 0o600);
    try {
      await f.writeFile(text);
      await f.sync();
    } finally {
      await f.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const dir = await open(dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
