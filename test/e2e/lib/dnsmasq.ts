import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Netns } from './netns.js';
import { survives } from './run.js';

/**
 * dnsmasq as the baseline's DHCP and TFTP server, configured like
 * shared/reference/pxe-e2e-dnsmasq.sh: iPXE clients get the HTTP script URL (and no-pxedhcp, so
 * iPXE does not wait for a ProxyDHCP answer), native PXE ROMs get the iPXE binary over TFTP.
 * Router advertisements come from the Netns, the same for dnsmasq and kickstand.
 */
export async function startDnsmasq(ns: Netns, opts: { tftpRoot: string; ipxeScriptUrl: string; range: [string, string] }): Promise<ChildProcess> {
  const conf = join(ns.workDir, 'dnsmasq.conf');
  const lines = [
    'port=0',
    // stay root: a credential change would drop the PR_SET_PDEATHSIG that ties it to the test
    'user=root',
    'group=root',
    `interface=${ns.bridge}`,
    'bind-interfaces',
    `dhcp-range=${opts.range[0]},${opts.range[1]},1h`,
    `dhcp-leasefile=${join(ns.workDir, 'dnsmasq.leases')}`,
    'dhcp-authoritative',
    'no-ping',
    'log-dhcp',
    `log-facility=${join(ns.workDir, 'dnsmasq.log')}`,
    'enable-tftp',
    `tftp-root=${opts.tftpRoot}`,
    'dhcp-userclass=set:ipxe,iPXE',
    'dhcp-match=set:efi64,option:client-arch,7',
    'dhcp-match=set:efi64,option:client-arch,9',
    'dhcp-option=tag:ipxe,encap:175,176,1b',
    `dhcp-boot=tag:ipxe,${opts.ipxeScriptUrl}`,
    'dhcp-boot=tag:!ipxe,tag:efi64,snponly.efi',
    'dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe',
    '',
  ];
  await writeFile(conf, lines.join('\n'));
  const child = ns.spawn('dnsmasq', ['-k', `--conf-file=${conf}`]);
  await survives(child, 300, 'dnsmasq');
  return child;
}
