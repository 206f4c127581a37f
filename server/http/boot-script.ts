import { RenderError } from '../model/errors.js';
import { configKindOf, type ScriptFormat } from '../model/renderers.js';
import type { AppDeps } from './deps.js';

/**
 * The boot script a MAC gets, asking from an address, by its machine's state: install, local,
 * unknown, discover or error, as an iPXE script (GET /boot/ipxe) or a GRUB configuration
 * (grub/grub.cfg-01-<mac> over TFTP and HTTP). One decision for both formats, so the signed GRUB
 * path hands out tokens by the same rules as iPXE: an install token only to the address that holds
 * the MAC's lease (or the first address that asked, without kickstand's DHCP).
 */
export type BootScriptDeps = Pick<AppDeps, 'config' | 'reads' | 'installs' | 'events' | 'renderers' | 'addresses' | 'discovery'>;
export type BootScript = (format: ScriptFormat, req: { mac: string; ip: string; base: string }) => Promise<string>;

const NAMES: Record<ScriptFormat, string> = { ipxe: 'iPXE script', grub: 'GRUB configuration' };

export function bootScripts(deps: BootScriptDeps): BootScript {
  const { reads, installs, events, renderers, addresses, discovery } = deps;
  return async (format, { mac, ip, base }) => {
    const render = (kind: Parameters<typeof renderers.ipxe>[0], input: Parameters<typeof renderers.ipxe>[1]) =>
      format === 'grub' ? renderers.grub(kind, input) : renderers.ipxe(kind, input);
    addresses.seen(ip, mac);
    const record = await reads.recordByMac(mac);
    // Both formats are the machine's boot script: one event kind, the lifecycle reads it the same.
    const report = (script: string, level: 'info' | 'error' = 'info', message?: string) =>
      events.report({ machine: record?.machine.name, mac, ip, kind: 'ipxe-script', level, message: message ?? `${NAMES[format]}: ${script}`, data: { script, format } });
    if (!record) {
      if (deps.config.unknownMachines === 'discover') {
        const { token, withheld } = await discovery.bootToken(mac, ip);
        if (token) {
          report('discover');
          return render('discover', { mac, base, token });
        }
        events.report({ mac, ip, kind: 'ipxe-script', level: 'warn', message: `discovery token withheld from ${ip}: ${withheld}` });
      }
      report('unknown');
      return render('unknown', { mac, base });
    }
    const { machine, profile } = record;
    const { token, withheld } = await installs.scriptToken(record, mac, ip);
    if (withheld) events.report({ machine: machine.name, mac, ip, kind: 'ipxe-script', level: 'warn', message: `install token withheld from ${ip}: ${withheld}` });
    if (!token) {
      report('local');
      return render('local', { mac, base, machine, profile });
    }
    try {
      // Render the install config now: a profile that cannot render must stop here, visibly,
      // not in the installer ten minutes later.
      renderers.config(configKindOf(profile), { machine, profile, token: token.token, base });
      report('install');
      return render('install', { mac, base, machine, profile, token: token.token });
    } catch (err) {
      const message = err instanceof RenderError ? err.message : `render failed: ${(err as Error).message}`;
      events.report({ machine: machine.name, mac, ip, kind: 'render', level: 'error', message });
      report('error', 'error', `${NAMES[format]}: error (${message})`);
      return render('error', { mac, base, machine, profile, error: message });
    }
  };
}
