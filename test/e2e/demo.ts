/**
 * `npm run demo` (as root): a whole reinstall on this machine, in a few minutes, touching nothing
 * outside a private network namespace. It builds the guest image (a Debian kernel and the
 * installer stand-in) and the VM's disk (the installed system: sshd and the converge shims),
 * starts a namespace, kickstand, and one switched-off QEMU VM behind the fake Redfish BMC, asks
 * kickstand for a reinstall, and follows it with the CLI's `kickstand watch`: power-on, PXE,
 * install, the boot from disk, and the converger's steps over SSH, reboot included. The web
 * console is offered on this host's loopback meanwhile (the URL is printed).
 * Everything is removed at the end, on Ctrl-C too. Exit status: 0 ready, 1 failed, 2 usage.
 * `npm run demo -- --fail` makes the installer fail, to show how a failed install reads.
 */
import { rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cleanEnv } from '../helpers/env.js';
import { atExit } from './lib/cleanup.js';
import { guestImage } from './lib/guest-image.js';
import { hostPort } from './lib/host-port.js';
import { installedSystemDisk } from './lib/installed-system.js';
import { startKickstand, type Kickstand } from './lib/kickstand.js';
import { Netns, scratchDir } from './lib/netns.js';
import { startNsFakeBmc, type NsFakeBmc, type NsFakeBmcRecord } from './lib/ns-fake-bmc.js';
import { Vm } from './lib/vm.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NAME = 'demo';
const MAC = '52:54:00:77:08:d0';
/** A TCG boot on a busy machine can take minutes; past this the demo gives up. */
const WATCH_SECONDS = 600;
/** Where the web console is offered on this host's loopback (any free port if taken). */
const CONSOLE_PORT = 8080;

const say = (s: string) => process.stdout.write(`\n==> ${s}\n`);

function describe(record: NsFakeBmcRecord): string[] {
  return record.log.map((e) => {
    if (e.kind === 'patch') return `PATCH Boot ${JSON.stringify(e.boot)}`;
    if (e.kind === 'reset') return `Reset ${e.resetType} (power was ${e.before})`;
    return `boot from ${e.device} (override ${e.override}${e.override === 'Once' ? ', now consumed' : ''})`;
  });
}

/** Runs `kickstand watch` inside the namespace, where the API listens; resolves when it exits. */
function watch(ns: Netns, ks: Kickstand): Promise<void> {
  const env = cleanEnv({ KICKSTAND_URL: ks.url, KICKSTAND_API_TOKEN: ks.token });
  const child = ns.spawn(join(REPO_ROOT, 'bin', 'kickstand'), ['watch', NAME, '--timeout', String(WATCH_SECONDS)], { cwd: REPO_ROOT, env });
  child.stdout!.pipe(process.stdout, { end: false });
  child.stderr!.pipe(process.stderr, { end: false });
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('npm run demo needs root: it creates a network namespace, a bridge and a tap for the VM\n');
    return 2;
  }
  const { values } = parseArgs({ options: { fail: { type: 'boolean', default: false } } });
  const started = performance.now();
  const work = await scratchDir('demo');
  // Registered first, so it runs last on Ctrl-C: after the namespace (and all it ran) is gone.
  const forgetWork = atExit(() => {
    rmSync(work, { recursive: true, force: true });
    process.stdout.write('\n==> interrupted: VM, BMC, kickstand and namespace removed\n');
  });
  let ns: Netns | undefined;
  let vm: Vm | undefined;
  let bmc: NsFakeBmc | undefined;
  let consolePort: { close(): void } | undefined;
  try {
    say('building the guest image (Debian kernel + installer stand-in; the first run downloads ~70 MB)');
    const guest = await guestImage({ workDir: join(work, 'guest'), perMac: values.fail ? { [MAC]: 'standin.fail=install' } : undefined });
    say(`guest kernel ${guest.kernelVersion}`);
    const disk = await installedSystemDisk({ workDir: join(work, 'installed') });
    say('VM disk built: syslinux (BIOS) and a unified kernel image (UEFI) booting the installed system');

    ns = await Netns.create({ taps: 1, routerAdvertisements: true });
    say(`network namespace ${ns.name}: bridge ${ns.bridge} ${ns.serverAddress}/${ns.prefixLength}, the only network anything here uses`);

    await mkdir(join(work, 'vm'));
    const { qemuArgs } = await disk.copyFor(join(work, 'vm'));
    vm = await Vm.start({ ns, tap: ns.taps[0], mac: MAC, firmware: 'bios', workDir: join(work, 'vm'), memoryMb: 384, extraArgs: ['-S', ...qemuArgs] });
    say(`QEMU VM ${MAC} (BIOS, iPXE NIC ROM, network boot first, then its disk), powered off; serial console in ${vm.serialLog}`);

    bmc = await startNsFakeBmc(ns, { qmpSocket: vm.qmpSocket, certDir: work });
    say(`fake Redfish BMC at ${bmc.url} (on the namespace's loopback; TLS, certificate pinned by fingerprint), driving the VM over QMP`);

    const ks = await startKickstand(ns, { guest, machines: [{ name: NAME, mac: MAC, firmware: 'bios', bmc: bmc.bmc, installed: true }], register: 'api' });
    say(`kickstand at ${ks.url}: DHCP, TFTP, HTTP boot and the API; profile and machine "${NAME}" (bmc.driver redfish) registered with POST /api/v1/profiles and /machines`);
    const forward = await hostPort(ns, '127.0.0.1', Number(new URL(ks.url).port), CONSOLE_PORT);
    consolePort = forward;
    // The token goes in a file of the demo's own (removed at the end), never on the screen.
    const tokenFile = join(work, 'api-token');
    await writeFile(tokenFile, `${ks.token}\n`, { mode: 0o600 });
    say(`web console: http://127.0.0.1:${forward.port}/ui/ — sign in with the API token in ${tokenFile}; watch ${NAME}'s row and its page live`);

    const requested = performance.now();
    const r = await ks.api('POST', `/api/v1/machines/${NAME}/reinstall`, { token: ks.token });
    if (r.status !== 202) throw new Error(`reinstall refused: HTTP ${r.status} ${r.text}`);
    say(`POST /api/v1/machines/${NAME}/reinstall → ${r.status}; following it with: kickstand watch ${NAME}`);
    await watch(ns, ks);

    const p = (await ks.api('GET', `/api/v1/machines/${NAME}/progress`, { token: ks.token })).json as { state: string; phase?: string; reason?: string; hint?: string };
    const record = await bmc.stop();
    say('what the BMC was asked to do:');
    for (const line of describe(record)) process.stdout.write(`    ${line}\n`);
    const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(0);
    if (p.state === 'ready') {
      say(`${NAME} is ready ${seconds(requested)} s after one API call (${seconds(started)} s for the whole demo)`);
      return 0;
    }
    say(`${NAME} ended ${p.state}${p.phase ? ` in ${p.phase}: ${p.reason}` : ''}${p.hint ? `\n    hint: ${p.hint}` : ''}`);
    process.stdout.write(`--- the VM's serial console, last lines ---\n${(await vm.serial()).trimEnd().split('\n').slice(-15).join('\n')}\n`);
    return 1;
  } finally {
    say('cleaning up: VM, BMC, kickstand, namespace');
    consolePort?.close();
    await bmc?.stop().catch(() => undefined);
    await vm?.stop();
    await ns?.destroy();
    rmSync(work, { recursive: true, force: true });
    forgetWork();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`demo failed: ${err.message}\n`);
    process.exit(1);
  },
);
