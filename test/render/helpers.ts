import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { Config } from '../../server/config/schema.js';
import { loadInventory } from '../../server/inventory/load.js';
import { Machine, type MachineInput } from '../../server/model/machine.js';
import { Profile, type ProfileInput } from '../../server/model/profile.js';
import type { RenderContext } from '../../server/render/context.js';
import type { RenderEnv } from '../../server/render/env.js';
import { renderIgnition } from '../../server/render/ignition.js';
import { renderKickstart } from '../../server/render/kickstart.js';

export const machinesDir = fileURLToPath(new URL('../../machines', import.meta.url));
export const goldenDir = fileURLToPath(new URL('../fixtures/render', import.meta.url));

/**
 * Compares a rendering with its golden file. UPDATE_GOLDEN=1 rewrites the files after an intended
 * change; review the diff: it is the exact text machines will receive.
 */
export function golden(t: Test, name: string, actual: string): void {
  const file = join(goldenDir, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(goldenDir, { recursive: true });
    writeFileSync(file, actual);
  }
  t.equal(actual, readFileSync(file, 'utf8'), `${name} matches its golden file`);
}

export const TOKEN = 'tok_Zq3v-8Kx2mW9pR4s';
export const URLS = { base: 'http://10.0.0.1:8080' };
export const CONVERGER_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKsTndC0nvErGeRkEyF0rTe5t1ngPurp0sesOnLy kickstand-converger';
export const config = Config.parse({});

export async function examples() {
  const inv = await loadInventory(machinesDir);
  return inv.machines.map((machine) => ({ machine, profile: inv.profiles.find((p) => p.name === machine.profile)! }));
}

export function ctxFor(machine: Machine, profile: Profile, extra: Partial<RenderContext> = {}): RenderContext {
  return { machine, profile, config, token: TOKEN, urls: URLS, convergerPublicKey: CONVERGER_KEY, ...extra };
}

/** A small valid Rocky profile to break one field at a time. */
export function profile(over: Partial<ProfileInput> = {}): Profile {
  return Profile.parse({
    name: 'p',
    os: 'rocky-9',
    firmware: 'uefi',
    disks: [
      { name: 'sys0', path: '/dev/disk/by-id/virtio-sys0', sizeGiB: 40 },
      { name: 'sys1', path: '/dev/disk/by-id/virtio-sys1', sizeGiB: 40 },
      { name: 'data0', path: '/dev/disk/by-id/virtio-data0' },
    ],
    storage: { layout: 'single', disks: ['sys0'], volumes: [{ name: 'root', mount: '/', sizeGiB: 10, grow: true }] },
    network: { interfaces: [{ role: 'data0', ipv4: 'dhcp' }] },
    ...over,
  });
}

export function machine(over: Partial<MachineInput> = {}): Machine {
  return Machine.parse({ name: 'm1', profile: 'p', macs: ['52:54:00:00:00:01', '52:54:00:00:00:02'], ...over });
}

/** The install config a machine fetches: kickstart or Ignition by the profile's OS. */
export function installConfig(ctx: RenderContext, env: RenderEnv): string {
  return ctx.profile.os === 'fcos' ? renderIgnition(ctx, env) : renderKickstart(ctx, env);
}
