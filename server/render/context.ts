import type { Config } from '../config/schema.js';
import type { Machine } from '../model/machine.js';
import type { Profile } from '../model/profile.js';

/**
 * Everything a per-machine render depends on; renderers read nothing else. Machine and profile
 * are treated as immutable: memo keys are cached per object (pass a new object for a change).
 */
export interface RenderContext {
  machine: Machine;
  profile: Profile;
  config: Config;
  /** the install token of the current install */
  token: string;
  /** base URL of kickstand as the machine sees it, e.g. http://10.0.0.1:8080 */
  urls: { base: string };
  /** kickstand's converger key, installed for root so the converger can log in */
  convergerPublicKey?: string;
}

/** The machine's serial console (params.console, e.g. ttyS0,115200n8) as kernel arguments. */
export function consoleArgs(machine: Machine): string[] {
  const console = machine.params.console;
  return console === undefined ? [] : [`console=${console}`];
}

const keyCache = new WeakMap<Machine, WeakMap<Profile, Map<string, string>>>();
const KEYS_PER_PAIR = 8;

/**
 * Every input of a per-install render except the token: the memo key of RenderEnv.memoize.
 * Building it costs a JSON.stringify of machine and profile; the store hands out the same
 * (frozen) objects while a row is unchanged, so the key is built once per object pair.
 */
export function renderKey(kind: string, ctx: RenderContext): string {
  const { machine, profile, config } = ctx;
  const scalars = `${kind}\0${ctx.urls.base}\0${ctx.convergerPublicKey ?? ''}\0${config.mirrors['rocky-9']}\0${config.mirrors.fcos ?? ''}`;
  let byProfile = keyCache.get(machine);
  if (!byProfile) keyCache.set(machine, (byProfile = new WeakMap()));
  let keys = byProfile.get(profile);
  if (!keys) byProfile.set(profile, (keys = new Map()));
  let key = keys.get(scalars);
  if (key === undefined) {
    key = `${scalars}\0${JSON.stringify([machine, profile])}`;
    // Bounded: without http.publicUrl the base comes from each request's Host header.
    if (keys.size >= KEYS_PER_PAIR) keys.delete(keys.keys().next().value!);
    keys.set(scalars, key);
  }
  return key;
}
