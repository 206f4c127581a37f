import t from 'tap';
import { Machine } from '../../server/model/machine.js';
import { RenderEnv } from '../../server/render/env.js';
import { renderIpxe } from '../../server/render/ipxe.js';
import { ctxFor, examples, installConfig } from './helpers.js';

/** The per-install memo: only the token may differ between two renders of unchanged inputs. */
t.test('a second install of the same machine differs by the token only', async (t) => {
  for (const { machine, profile } of await examples()) {
    const env = new RenderEnv();
    const first = installConfig(ctxFor(machine, profile, { token: 'tokenOne_A' }), env);
    const second = installConfig(ctxFor(machine, profile, { token: 'tokenTwo-B' }), env);
    t.match(first, 'tokenOne_A');
    t.equal(second, first.split('tokenOne_A').join('tokenTwo-B'), machine.name);
    t.notMatch(second, 'tokenOne_A');
    t.notMatch(second, /KickstandTokenSlot/);
    const fresh = installConfig(ctxFor(machine, profile, { token: 'tokenTwo-B' }), new RenderEnv());
    t.equal(second, fresh, `${machine.name}: memoized equals a cold render`);
    const script = renderIpxe({ kind: 'install', ctx: ctxFor(machine, profile, { token: 'tokenTwo-B' }) }, env);
    t.match(script, 'token=tokenTwo-B');
  }
});

t.test('tokens that URL encoding changes bypass the memo and are encoded', async (t) => {
  const { machine, profile } = (await examples()).find((e) => e.machine.name === 'edge-01')!;
  const env = new RenderEnv();
  installConfig(ctxFor(machine, profile, { token: 'plain' }), env);
  const json = JSON.parse(installConfig(ctxFor(machine, profile, { token: 'a+b/c' }), env));
  const script = decodeURIComponent(json.storage.files.find((f: { path: string }) => f.path === '/usr/local/bin/kickstand-report').contents.source.slice(6));
  t.match(script, 'token=a%2Bb%2Fc', 'the script holds the encoded token');
});

t.test('a changed machine is rendered anew, another machine never gets a cached text', async (t) => {
  const { machine, profile } = (await examples()).find((e) => e.machine.name === 'web-01')!;
  const env = new RenderEnv();
  const before = installConfig(ctxFor(machine, profile), env);
  const moved = Machine.parse({ ...machine, ipv4: { ...machine.ipv4!, address: '10.0.10.99/24' } });
  t.match(installConfig(ctxFor(moved, profile), env), '--ip=10.0.10.99');
  const twin = Machine.parse({ ...machine, name: 'web-02', macs: ['52:54:00:12:34:66', '52:54:00:12:34:67'], nics: {} });
  const other = installConfig(ctxFor(twin, profile), env);
  t.match(other, 'network --hostname=web-02');
  t.notMatch(other, 'web-01');
  t.equal(installConfig(ctxFor(machine, profile), env), before, 'the first machine still renders as before');
});
