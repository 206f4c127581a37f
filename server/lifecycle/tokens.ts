import { randomBytes, randomUUID } from 'node:crypto';
import type { InstallToken } from '../model/token.js';

export function newInstallToken(machine: string, ttlSeconds: number, now: number): InstallToken {
  return { token: randomBytes(24).toString('base64url'), machine, installId: randomUUID(), expiresAt: now + ttlSeconds * 1000 };
}

export type TokenUse = 'fetch' | 'callback';

/**
 * Config fetches need a live token of the current install. Callbacks of the current install
 * are accepted after expiry: a late `built` must not leave a machine stuck.
 */
export function tokenAllows(t: InstallToken | undefined, currentInstallId: string | undefined, use: TokenUse, now: number): string | undefined {
  if (!t) return 'unknown token';
  if (t.installId !== currentInstallId) return 'token of a previous install';
  if (use === 'fetch' && now > t.expiresAt) return 'token expired';
  return undefined;
}
