import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';

/**
 * kickstand's own SSH identity: generated once, kept in `<dataDir>/ssh/`, and installed for root by
 * the kickstart, so every converge logs in with the same key.
 */
export interface KeyPair {
  /** OpenSSH private key text */
  privateKey: string;
  /** `ssh-ed25519 AAAA… kickstand` */
  publicKey: string;
}

export function keyPaths(dataDir: string): { dir: string; privateKey: string; publicKey: string } {
  const dir = join(dataDir, 'ssh');
  return { dir, privateKey: join(dir, 'id_ed25519'), publicKey: join(dir, 'id_ed25519.pub') };
}

/**
 * The key in the data directory, made there if there is none. With `share` (several instances on
 * one database), the key is the one every instance shares: the first instance's own, which the
 * others take into their data directory, so that any instance converges a host another installed.
 */
export async function loadOrCreateKeyPair(dataDir: string, share?: (candidate: string) => Promise<string>): Promise<KeyPair> {
  const paths = keyPaths(dataDir);
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const own = (await readIfExists(paths.privateKey)) ?? (await create(paths.privateKey));
  const privateKey = share ? await share(own) : own;
  if (privateKey !== own) await writeFile(paths.privateKey, privateKey, { mode: 0o600 });
  // A key copied in by hand may have lost its mode; ssh tools refuse group-readable keys anyway.
  await chmod(paths.privateKey, 0o600);
  const publicKey = publicKeyLine(privateKey);
  await writeFile(paths.publicKey, `${publicKey}\n`, { mode: 0o644 });
  return { privateKey, publicKey };
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** A new ed25519 private key in OpenSSH form, guaranteed to be readable by ssh2 itself. */
export function generatePrivateKey(): string {
  // ssh2's generator now and then (≈ 3 in 1,000) writes a key its own parser rejects; draw again.
  for (let attempt = 0; attempt < 20; attempt++) {
    const key = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'kickstand' }).private;
    if (!(ssh2.utils.parseKey(key) instanceof Error)) return key;
  }
  throw new Error('could not generate a readable ed25519 key');
}

async function create(file: string): Promise<string> {
  const generated = generatePrivateKey();
  try {
    // 'wx': two processes starting on a fresh data dir must not each write a different key.
    await writeFile(file, generated, { flag: 'wx', mode: 0o600 });
    return generated;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return readFile(file, 'utf8');
  }
}

/** The OpenSSH public key line of a private key. */
export function publicKeyLine(privateKey: string): string {
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new Error(`kickstand SSH key is unreadable: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return `${key.type} ${key.getPublicSSH().toString('base64')} kickstand`;
}
