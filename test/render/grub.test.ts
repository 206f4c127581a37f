import t from 'tap';
import { RenderError } from '../../server/model/errors.js';
import { Profile } from '../../server/model/profile.js';
import { RenderEnv } from '../../server/render/env.js';
import { grubConfigMac } from '../../server/model/boot-urls.js';
import { renderGrub } from '../../server/render/grub.js';
import { renderIpxe } from '../../server/render/ipxe.js';
import { renderKickstart } from '../../server/render/kickstart.js';
import { config, ctxFor, examples, golden, URLS } from './helpers.js';

/**
 * The GRUB configurations of the signed boot path (issue 18). Golden files as for iPXE
 * (UPDATE_GOLDEN=1 rewrites them; review the diff), and the properties a broken renderer gets
 * wrong: the kernel line is the iPXE script's minus iPXE's own initrd=, every value is
 * single-quoted, files come over TFTP from the base URL's host, the token is bound per render.
 */
const env = new RenderEnv();

async function web() {
  return (await examples()).find((e) => e.machine.name === 'web-01')!;
}

t.test('golden files: install per example machine, local, unknown, discover, error, the lookup', async (t) => {
  for (const { machine, profile } of await examples()) {
    if (profile.firmware !== 'uefi') continue;
    golden(t, `${machine.name}.install.grub`, renderGrub({ kind: 'install', ctx: ctxFor(machine, profile) }, env));
  }
  const w = await web();
  const arm = Profile.parse({ ...w.profile, name: 'r640-arm', arch: 'aarch64', secureBoot: true });
  golden(t, 'web-01.aarch64.install.grub', renderGrub({ kind: 'install', ctx: ctxFor(w.machine, arm) }, env));
  golden(t, 'web-01.local.grub', renderGrub({ kind: 'local', name: 'web-01', firmware: 'uefi', urls: URLS }, env));
  golden(t, 'unknown.grub', renderGrub({ kind: 'unknown', mac: '52-54-00-99-99-99', urls: URLS }, env));
  golden(t, 'discover.grub', renderGrub({ kind: 'discover', mac: '52-54-00-99-99-99', token: 'dtok_Q8wYx2', urls: URLS, config }, env));
  golden(t, 'web-01.error.grub', renderGrub({ kind: 'error', name: 'web-01', mac: w.machine.macs[0], problems: [{ path: 'ipv4', message: 'a static address is needed' }], urls: URLS }, env));
  golden(t, 'grub.cfg', renderGrub({ kind: 'lookup' }, env));
});

t.test('install: the same kernel arguments as the iPXE script, each single-quoted; kernel and initrd over TFTP', async (t) => {
  const { machine, profile } = await web();
  const ctx = ctxFor(machine, profile, { token: 'tokG' });
  const grub = renderGrub({ kind: 'install', ctx }, env);
  const ipxeArgs = renderIpxe({ kind: 'install', ctx }, env)
    .split('\n')
    .find((l) => l.startsWith('kernel '))!
    .split(' ')
    .slice(4, -3); // kernel --name NAME URL ... || goto retry
  const linux = grub.split('\n').find((l) => l.trim().startsWith('if linux '))!.trim();
  const words = [...linux.matchAll(/'([^']*)'/g)].map((m) => m[1]);
  t.equal(words[0], '(tftp,10.0.0.1)/rocky-9/vmlinuz', 'kernel over TFTP from the base URL host');
  t.same(words.slice(1), ipxeArgs.filter((a) => !a.startsWith('initrd=')), 'kernel arguments as iPXE has them, without initrd=');
  t.ok(words.includes('inst.ks=http://10.0.0.1:8080/boot/kickstart?token=tokG'), 'kickstart with the token');
  t.equal(linux.replace(/'[^']*'/g, '').trim(), 'if linux' + ' '.repeat(words.length) + '; then', 'nothing outside the quotes but the command');
  t.match(grub, "if initrd '(tftp,10.0.0.1)/rocky-9/initrd.img'; then");
  t.match(grub, /for try in 1 2 3 4 5; do/, 'retried');
  t.match(grub, /\nreboot\n$/, 'after the last try the machine netboots again');
  // memoized by everything but the token: another token renders another config
  t.match(renderGrub({ kind: 'install', ctx: { ...ctx, token: 'tokH' } }, env), 'token=tokH');
  t.notMatch(renderGrub({ kind: 'install', ctx: { ...ctx, token: 'tokH' } }, env), 'tokG');
});

t.test('aarch64 loads the ARM64 kernel; Ignition installs carry the Ignition URL', async (t) => {
  const { machine, profile } = await web();
  const arm = Profile.parse({ ...profile, arch: 'aarch64' });
  const armGrub = renderGrub({ kind: 'install', ctx: ctxFor(machine, arm) }, env);
  t.match(armGrub, "'(tftp,10.0.0.1)/rocky-9/aarch64/vmlinuz'");
  t.match(armGrub, "'inst.repo=http://dl.rockylinux.org/pub/rocky/9/BaseOS/aarch64/os'", 'the aarch64 tree of the Rocky mirror');
  t.match(renderKickstart(ctxFor(machine, arm), env), /^url --url="?http:\/\/dl\.rockylinux\.org\/pub\/rocky\/9\/BaseOS\/aarch64\/os/m, 'in the kickstart too');
  const edge = (await examples()).find((e) => e.machine.name === 'edge-01')!;
  const text = renderGrub({ kind: 'install', ctx: ctxFor(edge.machine, edge.profile, { token: 'tokI' }) }, env);
  t.match(text, "'coreos.inst.ignition_url=http://10.0.0.1:8080/boot/ignition?token=tokI'");
  t.match(text, "'(tftp,10.0.0.1)/fcos/kernel'");
});

t.test("local chains to the disk's own boot loader, shims first; unknown returns to the firmware", async (t) => {
  const local = renderGrub({ kind: 'local', name: 'a', firmware: 'uefi', urls: URLS }, env);
  t.match(local, /^for loader in '\/EFI\/rocky\/shimx64\.efi' .* '\/EFI\/BOOT\/BOOTX64\.EFI'; do$/m, 'the distributions\' shims, then the removable path');
  t.match(local, /search --no-floppy --set=root --file "\$loader"[\s\S]*chainloader "\$loader"\n {4}boot\n/);
  t.match(local, /\nexit 1\n$/, 'no loader found: back to the firmware');
  t.notMatch(local, /^\s*linux |tftp/m, 'nothing from the network');
  t.match(renderGrub({ kind: 'local', name: 'a', firmware: 'uefi', arch: 'aarch64', urls: URLS }, env), "'/EFI/BOOT/BOOTAA64.EFI'; do");
  t.match(renderGrub({ kind: 'unknown', mac: '52:54:00:12:34:56', urls: URLS }, env), /\nexit 1\n$/);
});

t.test('hostile input: a forged base URL, an error text full of GRUB syntax, a MAC that is not one', async (t) => {
  const { machine, profile } = await web();
  for (const base of ["http://10.0.0.1:8080/'$(reboot)", 'http://a b', 'http://x/$x', 'ftp://x'])
    t.throws(() => renderGrub({ kind: 'install', ctx: ctxFor(machine, profile, { urls: { base } }) }, env), RenderError, `install refuses base ${JSON.stringify(base)}`);
  t.throws(() => renderGrub({ kind: 'local', name: "a'; reboot; '", firmware: 'uefi', urls: URLS }, env), RenderError, 'a name that is not a word');
  const err = renderGrub({ kind: 'error', name: "web'01", mac: '52:54:00:12:34:56', problems: [{ path: 'x', message: "it's ${evil}; reboot\nsecond line" }], urls: URLS }, env);
  const echoes = err.split('\n').filter((l) => l.startsWith("echo 'kickstand:   "));
  t.same(echoes, ["echo 'kickstand:   x: it`s __evil__ reboot'", "echo 'kickstand:   second line'"]);
  t.match(err, "configfile '(tftp,10.0.0.1)/grub/grub.cfg-01-52-54-00-12-34-56'");
  t.match(renderGrub({ kind: 'unknown', mac: "'$(x)", urls: URLS }, env), "MAC `_(x)'");
});

t.test('grub.cfg-01-<mac> names: any case of hex, nothing else', async (t) => {
  t.equal(grubConfigMac('grub/grub.cfg-01-52-54-00-AB-cd-01'), '52:54:00:ab:cd:01');
  for (const bad of ['grub/grub.cfg', 'grub/grub.cfg-01-52-54-00-ab-cd', 'grub/grub.cfg-01-52-54-00-ab-cd-01-02', 'grub/grub.cfg-0A000001', 'x/grub/grub.cfg-01-52-54-00-ab-cd-01', 'grub/grub.cfg-01-52:54:00:ab:cd:01', 'grub/grub.cfg-01-52-54-00-ab-cd-0g'])
    t.equal(grubConfigMac(bad), undefined, bad);
});
