import { randomBytes, randomUUID } from 'node:crypto';
import type { InstallToken } from '../model/token.js';

export function newInstallToken(machine: string, ttlSeconds: number, now: number): InstallToken {
  return { token: randomBytes(24).toString('base64url'), machine, installId: randomUUID(), expiresAt: now + ttlSeconds * 1000 };
}

export type TokenUse = 'fetch' | 'callback';

/** Why a token opens nothing: 403 for a token never valid here, 410 for one whose install ended. */
export type TokenRefusal = { status: 403 | 410; reason: string };

/**
 * Config fetches need a live token of the current install. Callbacks of the current install
 * are accepted after expiry: a late `built` must not leave a machine stuck. A token revoked at
 * the end of its install (built, failed, cancelled, superseded) opens nothing.
 */
export function tokenAllows(t: InstallToken | undefined, currentInstallId: string | undefined, use: TokenUse, now: number): TokenRefusal | undefined {
  if (!t) return { status: 403, reason: 'unknown token' };
  if (t.revokedAt !== undefined || t.installId !== currentInstallId) return { status: 410, reason: 'the install of this token has ended' };
  if (use === 'fetch' && now > t.expiresAt) return { status: 403, reason: 'token expired' };
  return undefined;
}
