/**
 * What the stub-served tests (pxe-baseline, guest-agent) stand on, without kickstand: a scratch
 * directory, the installer stand-in with its kernel and initrd as the stub's /boot/assets, a
 * namespace with one tap per VM; `serve` starts the stub boot server and dnsmasq pointing iPXE at
 * it, `startVms` one VM per tap. Everything is undone through the test's teardown.
 */
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startDnsmasq } from './dnsmasq.js';
import { guestImage, type GuestImage } from './guest-image.js';
import { Netns, scratchDir } from './netns.js';
import { startStubBootServer, type StubBootServer, type StubMachine } from './stub-boot-server.js';
import { Vm, type VmOptions } from './vm.js';

const PORT = 8080;

export interface StubPxeBed {
  work: string;
  guest: GuestImage;
  ns: Netns;
  /** The stub's base URL (known before it starts: kickstarts name it). */
  base: string;
  /** The stub boot server with these machines (and the agent script, given `agentFile`), then dnsmasq. */
  serve(machines: StubMachine[], opts?: { agentFile?: string }): Promise<StubBootServer>;
  /** One VM per entry, the i-th on tap i, in work/vm<i>, 384 MB; stopped on teardown. */
  startVms(vms: Omit<VmOptions, 'ns' | 'tap' | 'workDir'>[]): Promise<Vm[]>;
}

export async function stubPxeBed(t: { teardown(fn: () => unknown): void }, label: string, taps: number): Promise<StubPxeBed> {
  const work = await scratchDir(label);
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const guest = await guestImage({ workDir: join(work, 'guest') });
  const assetsDir = join(work, 'assets');
  await mkdir(assetsDir);
  await copyFile(guest.kernel, join(assetsDir, 'vmlinuz'));
  await copyFile(guest.initrd, join(assetsDir, 'initrd.gz'));
  const ns = await Netns.create({ taps, routerAdvertisements: true });
  t.teardown(() => ns.destroy());
  return {
    work,
    guest,
    ns,
    base: `http://${ns.serverAddress}:${PORT}`,
    async serve(machines, opts = {}) {
      const server = await startStubBootServer(ns, { port: PORT, assetsDir, machines, ...opts });
      await startDnsmasq(ns, { tftpRoot: '/usr/lib/ipxe', ipxeScriptUrl: `${server.url}/boot/ipxe?mac=\${net0/mac}`, range: ['10.77.0.50', '10.77.0.150'] });
      return server;
    },
    async startVms(vms) {
      const started = await Promise.all(
        vms.map(async (o, i) => {
          const workDir = join(work, `vm${i}`);
          await mkdir(workDir);
          return Vm.start({ memoryMb: 384, ...o, ns, tap: ns.taps[i], workDir });
        }),
      );
      t.teardown(() => Promise.all(started.map((vm) => vm.stop())));
      return started;
    },
  };
}
