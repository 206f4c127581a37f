/**
 * One simulated machine's install, from power-on to the acknowledged `built`, the way firmware,
 * iPXE and the Rocky installer walk it: PXE DHCP → TFTP of the boot file → iPXE DHCP → the iPXE
 * script → kernel and initrd (a HEAD and the first MiB of each) → the kickstart its script names →
 * the callbacks its kickstart names (%pre start, %post progress, hostkeys, built). Everything after
 * DHCP leaves from the leased address. No step is retried beyond what the real client retries
 * (DHCP and TFTP retransmits): any other failure ends the machine with an error.
 */
import { randomBytes } from 'node:crypto';
import type { RelayClient } from './dhcp-relay.js';
import { expect } from './http-client.js';
import { tftpGet } from './tftp-client.js';

export interface MachineSpec {
  mac: string;
  /** TFTP server for this machine; default the DHCP next-server. */
  tftp?: string;
  tftpPort: number;
  /** origin (http://host:port) this machine's HTTP goes to; default the one DHCP named. */
  http?: string;
  /** RFC 7440 windowsize asked for; 1: lock-step. */
  windowsize: number;
}

export type Phase = 'dhcp' | 'tftp' | 'script' | 'assets' | 'kickstart' | 'callbacks';

export interface MachineResult {
  mac: string;
  ip?: string;
  ok: boolean;
  error?: string;
  /** ms from power-on to the `built` answer (or to the error) */
  ms: number;
  phases: Partial<Record<Phase, number>>;
  dhcpRetransmits: number;
  tftpRetries: number;
  tftpWindow?: number;
}

const MIB = 1 << 20;

const firstMatch = (text: string, re: RegExp, what: string): string => {
  const m = re.exec(text);
  if (!m) throw new Error(`no ${what} in the answer`);
  return m[1];
};

/** Points a URL at `origin` (the instance this machine was spread to), path and query kept. */
const onOrigin = (url: string, origin: string | undefined) => (origin ? origin + new URL(url).pathname + new URL(url).search : url);

export async function bootMachine(spec: MachineSpec, relay: RelayClient): Promise<MachineResult> {
  const start = performance.now();
  const result: MachineResult = { mac: spec.mac, ok: false, ms: 0, phases: {}, dhcpRetransmits: 0, tftpRetries: 0 };
  let mark = start;
  const phase = (p: Phase) => {
    const now = performance.now();
    result.phases[p] = (result.phases[p] ?? 0) + (now - mark);
    mark = now;
  };
  const mac = Buffer.from(spec.mac.split(':').map((h) => parseInt(h, 16)));
  const uuid = Buffer.concat([Buffer.from([0]), randomBytes(16)]);
  try {
    const pxe = await relay.lease(mac, uuid, 'pxe');
    result.ip = pxe.ip;
    result.dhcpRetransmits += pxe.retransmits;
    phase('dhcp');
    const local = pxe.ip;
    const t = await tftpGet({ server: spec.tftp ?? pxe.nextServer, port: spec.tftpPort, local, file: pxe.file, blksize: 1468, windowsize: spec.windowsize });
    result.tftpRetries = t.retries;
    result.tftpWindow = t.windowsize;
    phase('tftp');
    const ipxe = await relay.lease(mac, uuid, 'ipxe');
    result.dhcpRetransmits += ipxe.retransmits;
    if (ipxe.ip !== local) throw new Error(`iPXE got ${ipxe.ip}, the PXE ROM had ${local}`);
    phase('dhcp');

    const scriptUrl = onOrigin(ipxe.file.replace('${net0/mac}', spec.mac), spec.http);
    const script = (await expect([200], 'GET', scriptUrl, { local, keep: true })).text!;
    const kernel = firstMatch(script, /^kernel\s+(?:--name\s+\S+\s+)?(\S+)/m, 'kernel line in the iPXE script');
    const initrd = firstMatch(script, /^initrd\s+(?:--name\s+\S+\s+)?(\S+)/m, 'initrd line in the iPXE script');
    const ks = firstMatch(script, /\binst\.ks=(\S+)/, 'inst.ks= (install token) in the iPXE script');
    phase('script');
    for (const url of [kernel, initrd]) {
      await expect([200], 'HEAD', url, { local });
      const part = await expect([206], 'GET', url, { local, headers: { Range: `bytes=0-${MIB - 1}` } });
      if (part.bytes !== MIB) throw new Error(`GET ${url} Range: ${part.bytes} bytes, not ${MIB}`);
    }
    phase('assets');
    const kickstart = (await expect([200], 'GET', ks, { local, keep: true })).text!;
    const callback = (event: string) => firstMatch(kickstart, new RegExp(`kickstand_report '([^']*/boot/callback/${event}\\?[^']*)'`), `${event} callback in the kickstart`);
    const calls: [string, string][] = [
      [callback('start'), 'installer started on 5.14.0-427.13.1.el9_4.x86_64\n'],
      [callback('progress'), `packages installed, configuring ${spec.mac}\n`],
      [callback('hostkeys'), `ssh-ed25519 ${Buffer.concat([Buffer.from('AAAAC3NzaC1lZDI1NTE5AAAAI', 'latin1'), randomBytes(24)]).toString('base64')} root@storm\n`],
      [callback('built'), 'installed\n'],
    ];
    phase('kickstart');
    for (const [url, body] of calls) await expect([200], 'POST', url, { local, body, headers: { 'Content-Type': 'text/plain' } });
    phase('callbacks');
    result.ok = true;
  } catch (err) {
    result.error = (err as Error).message;
  }
  result.ms = performance.now() - start;
  return result;
}
