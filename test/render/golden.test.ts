import t from 'tap';
import { RenderEnv } from '../../server/render/env.js';
import { renderIpxe } from '../../server/render/ipxe.js';
import { RenderError } from '../../server/model/errors.js';
import { renderDiscoveryKickstart } from '../../server/render/discovery.js';
import { config, ctxFor, examples, golden, installConfig, URLS } from './helpers.js';

/**
 * Golden files for every example machine. Regenerate with UPDATE_GOLDEN=1 after an intended
 * change and review the diff: it is the exact text machines will receive.
 */
const env = new RenderEnv();

t.test('every example machine renders its config and iPXE scripts', async (t) => {
  const all = await examples();
  t.equal(all.length, 3, 'three example machines');
  for (const { machine, profile } of all) {
    const ctx = ctxFor(machine, profile);
    golden(t, `${machine.name}.${profile.os === 'fcos' ? 'ign' : 'ks'}`, installConfig(ctx, env));
    golden(t, `${machine.name}.install.ipxe`, renderIpxe({ kind: 'install', ctx }, env));
    golden(t, `${machine.name}.local.ipxe`, renderIpxe({ kind: 'local', name: machine.name, firmware: profile.firmware, urls: URLS }, env));
  }
});

t.test('unknown, bootstrap and error scripts', async (t) => {
  golden(t, 'unknown.ipxe', renderIpxe({ kind: 'unknown', mac: '52-54-00-99-99-99', urls: URLS }, env));
  golden(t, 'bootstrap.ipxe', renderIpxe({ kind: 'bootstrap', urls: URLS }, env));
  golden(t, 'discover.ipxe', renderIpxe({ kind: 'discover', mac: '52-54-00-99-99-99', token: 'dtok_Q8wYx2', urls: URLS, config }, env));
  golden(t, 'discovery.ks', renderDiscoveryKickstart({ base: URLS.base, token: 'dtok_Q8wYx2' }, config, env));
  const live = { ...config, discovery: { ...config.discovery, image: { kernel: 'live/vmlinuz', initrd: 'live/initrd.img', args: ['root=live:http://10.0.0.1:8080/boot/assets/live/squashfs.img', 'rd.live.image'] }, kernelArgs: ['console=ttyS0,115200n8'] } };
  golden(t, 'discover-live.ipxe', renderIpxe({ kind: 'discover', mac: '52:54:00:99:99:99', token: 'dtok_Q8wYx2', urls: URLS, config: live }, env));
  const web = (await examples()).find((e) => e.machine.name === 'web-01')!;
  const ctx = ctxFor({ ...web.machine, ipv4: undefined }, web.profile);
  const err = t.throws(() => installConfig(ctx, env)) as RenderError;
  t.type(err, RenderError, 'a machine missing its static address does not render');
  t.same(err.problems.map((p) => p.path), ['ipv4']);
  t.throws(() => renderIpxe({ kind: 'install', ctx }, env), RenderError, 'nor does its install script');
  golden(t, 'web-01.error.ipxe', renderIpxe({ kind: 'error', name: 'web-01', mac: web.machine.macs[0], problems: err.problems, urls: URLS }, env));
});
