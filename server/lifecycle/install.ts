import type { CallbackEvent } from '../model/boot-urls.js';
import type { BootEvent } from '../model/events.js';
import { type Clock, systemClock } from '../model/clock.js';
import { LifecycleError } from '../model/errors.js';
import { printable } from '../model/text.js';
import type { MachineStatus } from '../model/status.js';
import type { InstallToken } from '../model/token.js';
import type { MachineRecord, Reads } from '../reads/reads.js';
import type { EventLog } from './event-log.js';
import type { Lifecycle } from './lifecycle.js';
import type { Input } from './table.js';
import { tokenAllows, type TokenUse } from './tokens.js';

export type TokenCheck = { ok: true; token: InstallToken; record: MachineRecord } | { ok: false; status: 403 | 410; reason: string };

const HOST_KEY = /^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+$/;

/** OpenSSH public key lines of a hostkeys callback body, comments dropped. */
export function parseHostKeys(body: string): string[] {
  return body
    .split('\n')
    .map((l) => l.trim().split(/\s+/).slice(0, 2).join(' '))
    .filter((l) => HOST_KEY.test(l));
}

/**
 * The installer's side of an install: who gets its token, what the token allows, and its
 * callbacks. The token is handed only to the address kickstand can tie to the machine, and the
 * install is bound to the address that first fetches its config: a MAC alone opens nothing.
 */
export class Installs {
  private readonly clock: Clock;

  constructor(
    private readonly lifecycle: Lifecycle,
    private readonly reads: Reads,
    private readonly events: EventLog,
    /** DHCP on: the token goes only to the address the MAC used in DHCP with kickstand. */
    private readonly dhcp: boolean,
    clock?: Clock,
  ) {
    this.clock = clock ?? systemClock;
  }

  /**
   * The install token for an iPXE script requested from `ip` for this MAC, or why it is withheld.
   * DHCP on: only the address of the MAC's latest DHCP exchange with kickstand. DHCP off: the
   * first address to ask during this install.
   */
  async scriptToken(record: MachineRecord, mac: string, ip: string): Promise<{ token?: InstallToken; withheld?: string }> {
    const token = record.token;
    if (!token) return {};
    const allowed = this.dhcp ? await this.reads.dhcpAddressOf(mac) : await this.lifecycle.bindAddress(record.machine.name, token.installId, 'bootIp', ip);
    if (allowed === ip) return { token };
    return { withheld: this.dhcp ? (allowed ? 'not the address this MAC took in DHCP' : 'no DHCP exchange with kickstand from this MAC yet') : 'the install token went to another address' };
  }

  /**
   * Checks a token for a config fetch or a callback from `ip`; returns the machine or why not.
   * The first config fetch binds the install to its address; callbacks must come from there.
   */
  async checkToken(token: string, use: TokenUse, ip: string): Promise<TokenCheck> {
    const t = await this.reads.token(token);
    const record = t && (await this.reads.record(t.machine));
    const s = record?.status;
    const refused =
      tokenAllows(t, s?.installId, use, this.clock.now()) ??
      (!record || s?.netboot !== 'install' ? { status: 410 as const, reason: 'the install of this token has ended' } : undefined);
    if (refused) return { ok: false, ...refused };
    const bound = s!.installerIp ?? (use === 'fetch' ? await this.lifecycle.bindAddress(t!.machine, t!.installId, 'installerIp', ip) : undefined);
    if (bound === undefined) return { ok: false, status: use === 'fetch' ? 410 : 403, reason: use === 'fetch' ? 'the install of this token has ended' : 'no config fetched for this install yet' };
    if (bound !== ip) return { ok: false, status: 403, reason: 'this install is bound to another address' };
    return { ok: true, token: t!, record: record! };
  }

  /** The token an install script embeds, while the machine is to be installed. */
  async installToken(name: string): Promise<InstallToken | undefined> {
    return (await this.reads.record(name))?.token;
  }

  /** Installer callbacks: start, progress, hostkeys, built, failed. */
  async callback(token: InstallToken, event: CallbackEvent, body: string, query: { step?: string }): Promise<MachineStatus> {
    const name = token.machine;
    const said = (message: string, level: 'info' | 'warn' | 'error' = 'info', data?: Record<string, unknown>): BootEvent => ({
      machine: name,
      kind: 'callback',
      level,
      message,
      data: { event, ...data },
    });
    // A callback that moves the install is written with its state change, in one transaction.
    const step = async (input: Input, e: BootEvent) => (await this.lifecycle.step(name, input, e)).status;
    switch (event) {
      case 'start':
        return step({ kind: 'callback', event }, said('installer started'));
      case 'progress':
        const at = query.step === undefined ? undefined : printable(query.step);
        await this.events.append(said(`progress: ${at ?? 'step'}${body ? ` — ${printable(body.slice(0, 500))}` : ''}`, 'info', { step: at }));
        return this.lifecycle.current(name);
      case 'hostkeys': {
        const keys = parseHostKeys(body);
        if (!keys.length) throw new LifecycleError('hostkeys: no OpenSSH public key lines in the body', 'invalid');
        return this.lifecycle.recordHostKeys(name, token.installId, keys, said(`host keys reported: ${keys.map((k) => k.split(' ')[0]).join(', ')}`, 'info', { keys })).catch(async (err: Error) => {
          await this.events.append(said(`host keys refused: ${err.message}`, 'warn'));
          throw err;
        });
      }
      case 'built':
        return step({ kind: 'callback', event }, said('installer reported built'));
      case 'failed':
        return step({ kind: 'callback', event }, said('installer reported failed', 'error', { log: printable(body.slice(-8192), { multiline: true }) }));
    }
  }
}
