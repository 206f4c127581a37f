import { GRUB_CONFIG, grubConfigMac } from '../model/boot-urls.js';
import type { Remote } from './server.js';

/**
 * GRUB's network lookup over TFTP, as generated content: `grub/grub.cfg` (the same for every
 * machine) and `grub/grub.cfg-01-<mac with dashes>`, whose MAC is validated by its name before
 * anything is looked up. Every other name is not generated (the root may have it). The per-MAC
 * configuration is the boot script decision's (main.ts wires it); the requester's address goes
 * with it, since install tokens are bound to the address holding the MAC's lease.
 */
export function grubContent(source: { lookup: () => string; perMac: (mac: string, ip: string) => Promise<string | undefined> }) {
  return async (path: string, remote: Remote): Promise<Buffer | undefined> => {
    if (path === GRUB_CONFIG) return Buffer.from(source.lookup());
    const mac = grubConfigMac(path);
    if (!mac) return undefined;
    const text = await source.perMac(mac, remote.address);
    return text === undefined ? undefined : Buffer.from(text);
  };
}
