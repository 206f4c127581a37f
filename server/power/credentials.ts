import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { Config } from '../config/schema.js';
import type { Bmc } from '../model/machine.js';
import { PowerError } from './errors.js';

/**
 * The directories BMC files (bmc.passwordFile, bmc.tls.ca) may live in when the caller names
 * none: config's default `secrets.dirs`, read from the config schema itself. main.ts passes the
 * configured list (PowerDeps.secretDirs).
 */
export const DEFAULT_SECRET_DIRS: readonly string[] = Config.parse({}).secrets.dirs;

/** A password file holds one line; a CA bundle a few certificates. Anything larger is not what the field names. */
const MAX_SECRET_BYTES = 1 << 20;

function inside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** Each directory as written (made absolute) and as it really is (symlinks resolved); missing ones drop out of the second list. */
async function resolveDirs(dirs: readonly string[]): Promise<{ lexical: string[]; real: string[] }> {
  const lexical = dirs.map((d) => resolve(d));
  const real = (await Promise.all(lexical.map((d) => realpath(d).catch(() => undefined)))).filter((d): d is string => !!d);
  return { lexical, real };
}

/**
 * Reads a file a machine's BMC section names (`field`: bmc.passwordFile or bmc.tls.ca), only if
 * it lies inside one of the secrets directories, checked at each use on the real path: the path
 * as written must be inside one (so nothing outside is even looked at, and no error tells
 * whether a file exists elsewhere), and its real path, every symlink and ".." resolved, too.
 * The file is opened without following a final symlink and must be a regular file. A refusal is
 * a PowerError of kind config that names the field and the directories, never the contents.
 */
export async function readSecretFile(file: string, field: string, dirs: readonly string[], machineName: string): Promise<string> {
  const where = `${field} ${file}`;
  const refuse = (why: string) =>
    new PowerError('config', `${machineName}: ${where} ${why}; ${field} must name a file inside a secrets directory (config secrets.dirs: ${dirs.join(', ') || 'none'})`);
  if (!isAbsolute(file)) throw refuse('is not an absolute path');
  const { lexical, real } = await resolveDirs(dirs);
  const asWritten = resolve(file);
  if (!lexical.some((d) => inside(d, asWritten)) && !real.some((d) => inside(d, asWritten))) throw refuse('is outside the secrets directories');
  let target: string;
  try {
    target = await realpath(asWritten);
  } catch (err) {
    throw new PowerError('config', `${machineName}: cannot read ${where} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!real.some((d) => inside(d, target))) throw refuse('leads out of the secrets directories (through a symlink)');

  let handle;
  try {
    // O_NONBLOCK: a FIFO planted in the directory must not hang the power call on open.
    handle = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw new PowerError('config', `${machineName}: cannot read ${where} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw refuse('is not a regular file');
    if (stat.size > MAX_SECRET_BYTES) throw refuse(`is larger than ${MAX_SECRET_BYTES} bytes`);
    return await handle.readFile('utf8');
  } catch (err) {
    if (err instanceof PowerError) throw err;
    throw new PowerError('config', `${machineName}: cannot read ${where} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  } finally {
    await handle.close();
  }
}

/**
 * The BMC password, read at each use so that a rotated passwordFile takes effect without a
 * restart. A trailing newline (as `echo` writes it) is not part of the password.
 */
export async function bmcPassword(bmc: Bmc, machineName: string, secretDirs: readonly string[] = DEFAULT_SECRET_DIRS): Promise<string> {
  if (bmc.password !== undefined) return bmc.password;
  if (bmc.passwordFile === undefined)
    throw new PowerError('config', `${machineName}: BMC driver ${bmc.driver} needs bmc.password or bmc.passwordFile`);
  return (await readSecretFile(bmc.passwordFile, 'bmc.passwordFile', secretDirs, machineName)).replace(/\r?\n$/, '');
}

export function bmcUsername(bmc: Bmc, machineName: string): string {
  if (!bmc.username) throw new PowerError('config', `${machineName}: BMC driver ${bmc.driver} needs bmc.username`);
  return bmc.username;
}
