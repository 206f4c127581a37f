import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { Config, type ConfigInput } from './schema.js';

/** KICKSTAND_* variables and the config path each one sets; numbers are converted. */
export const ENV_KEYS: Record<string, { path: string[]; number?: boolean; list?: boolean; boolean?: boolean }> = {
  KICKSTAND_HTTP_PORT: { path: ['http', 'port'], number: true },
  KICKSTAND_HTTP_HOST: { path: ['http', 'host'] },
  KICKSTAND_PUBLIC_URL: { path: ['http', 'publicUrl'] },
  KICKSTAND_TFTP_PORT: { path: ['tftp', 'port'], number: true },
  KICKSTAND_TFTP_ROOT: { path: ['tftp', 'root'] },
  KICKSTAND_INSTANCE: { path: ['instance'] },
  KICKSTAND_DATA_DIR: { path: ['dataDir'] },
  KICKSTAND_API_TOKEN: { path: ['api', 'token'] },
  KICKSTAND_DHCP_MODE: { path: ['dhcp', 'mode'] },
  KICKSTAND_DHCP_INTERFACE: { path: ['dhcp', 'interface'] },
  KICKSTAND_DHCP_STANDBY: { path: ['dhcp', 'standby'], boolean: true },
  KICKSTAND_INVENTORY: { path: ['inventory'] },
  KICKSTAND_TEMPLATES_DIR: { path: ['templatesDir'] },
  KICKSTAND_IGNITION_DIR: { path: ['ignitionDir'] },
  KICKSTAND_ASSETS_DIR: { path: ['assets', 'dir'] },
  KICKSTAND_LOG_LEVEL: { path: ['log', 'level'] },
  KICKSTAND_DATABASE_URL: { path: ['store', 'url'] },
  KICKSTAND_UNKNOWN_MACHINES: { path: ['unknownMachines'] },
  /** colon-separated, like PATH */
  KICKSTAND_SECRETS_DIRS: { path: ['secrets', 'dirs'], list: true },
};

export class ConfigError extends Error {}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let o = obj;
  for (const key of path.slice(0, -1)) {
    if (typeof o[key] !== 'object' || o[key] === null) o[key] = {};
    o = o[key] as Record<string, unknown>;
  }
  o[path[path.length - 1]] = value;
}

/** Config = defaults ← YAML file (--config) ← KICKSTAND_* env. Errors name the key and its source. */
export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv } = {}): Config {
  const env = opts.env ?? process.env;
  let raw: Record<string, unknown> = {};
  if (opts.file) {
    try {
      raw = (parse(readFileSync(opts.file, 'utf8')) as Record<string, unknown> | null) ?? {};
    } catch (e) {
      throw new ConfigError(`config ${opts.file}: ${(e as Error).message}`);
    }
  }
  for (const [name, { path, number, list, boolean }] of Object.entries(ENV_KEYS)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    if (number && !/^\d+$/.test(v)) throw new ConfigError(`${name}: must be a whole number, got "${v}"`);
    if (boolean && v !== 'true' && v !== 'false') throw new ConfigError(`${name}: must be true or false, got "${v}"`);
    setPath(raw, path, number ? Number(v) : boolean ? v === 'true' : list ? v.split(':').filter(Boolean) : v);
  }
  const parsed = Config.safeParse(raw as ConfigInput);
  if (!parsed.success) {
    // a list variable also answers for its elements (secrets.dirs.1 ← KICKSTAND_SECRETS_DIRS)
    const envFor = (p: PropertyKey[]) =>
      Object.entries(ENV_KEYS).find(([, k]) => k.path.join('.') === p.join('.') || (k.list && k.path.join('.') === p.slice(0, -1).join('.')))?.[0];
    throw new ConfigError(
      'invalid configuration:\n  ' +
        parsed.error.issues
          .map((i) => `${i.path.join('.')}${envFor(i.path) ? ` (or ${envFor(i.path)})` : ''}: ${i.message}`)
          .join('\n  '),
    );
  }
  return parsed.data;
}

export type { Config };
