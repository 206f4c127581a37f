/** The machine-side URLs of the boot contract (DESIGN.md), built in this one place. */

export type CallbackEvent = 'start' | 'progress' | 'hostkeys' | 'built' | 'failed';

/** The base URL machines use: configured, else the address they reached kickstand at. */
export function baseUrl(publicUrl: string | undefined, host: string | undefined): string {
  return (publicUrl ?? `http://${host ?? '127.0.0.1'}`).replace(/\/+$/, '');
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
  asset(path: string): string {
    return `${this.base}/boot/assets/${path}`;
  }
}
