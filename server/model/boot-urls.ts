/** The machine-side URLs of the boot contract (DESIGN.md), built in this one place. */

export type CallbackEvent = 'start' | 'progress' | 'hostkeys' | 'built' | 'failed';

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
/** A Host header fit to be put into the URLs kickstand serves: a name or IPv4, or [IPv6], and a port. */
const HOST = new RegExp(`^(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9A-Fa-f:.]+\\])(?::[0-9]{1,5})?$`);

/**
 * The base URL machines use: configured, else the address they reached kickstand at. undefined
 * when that Host header could not be part of a URL (it ends up in kickstarts and scripts).
 */
export function baseUrl(publicUrl: string | undefined, host: string | undefined): string | undefined {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  if (host === undefined) return 'http://127.0.0.1';
  return host.length <= 261 && HOST.test(host) ? `http://${host}` : undefined;
}

/** GRUB's network lookup of its configuration, under the TFTP root (and /boot/ over HTTP). */
export const GRUB_CONFIG = 'grub/grub.cfg';

/** `grub/grub.cfg-01-52-54-00-12-34-56` → the MAC, for any case of hex digits; undefined for any other name. */
export function grubConfigMac(path: string): string | undefined {
  const m = /^grub\/grub\.cfg-01-([0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5})$/.exec(path);
  return m ? m[1].replace(/-/g, ':').toLowerCase() : undefined;
}

export class BootUrls {
  readonly base: string;
  constructor(base: string) {
    this.base = base.replace(/\/+$/, '');
  }
  ipxe(mac: string): string {
    return `${this.base}/boot/ipxe?mac=${mac}`;
  }
  /** iPXE binaries for UEFI HTTP boot, from the TFTP root. */
  firmware(file: string): string {
    return `${this.base}/boot/firmware/${file}`;
  }
  kickstart(token: string): string {
    return `${this.base}/boot/kickstart?token=${encodeURIComponent(token)}`;
  }
  ignition(token: string): string {
    return `${this.base}/boot/ignition?token=${encodeURIComponent(token)}`;
  }
  callback(event: CallbackEvent, token: string): string {
    return `${this.base}/boot/callback/${event}?token=${encodeURIComponent(token)}`;
  }
  /** The discovery boot's kickstart: it runs the inventory agent and never installs. */
  discoveryKickstart(token: string): string {
    return `${this.base}/boot/discovery/kickstart?token=${encodeURIComponent(token)}`;
  }
  /** The inventory agent, a plain script without secrets. */
  agent(): string {
    return `${this.base}/boot/discovery/agent`;
  }
  asset(path: string): string {
    return `${this.base}/boot/assets/${path}`;
  }
}
