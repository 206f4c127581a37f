import t from 'tap';
import { Machine } from '../../server/model/machine.js';
import { RenderEnv } from '../../server/render/env.js';
import { renderIpxe } from '../../server/render/ipxe.js';
import { lintMachine } from '../../server/render/lint.js';
import { ctxFor, examples, installConfig, URLS } from './helpers.js';

/** What a machine receives may hold its install token, never a BMC password or a clear root password. */
const env = new RenderEnv();
const BMC_PASSWORD = 'Cl3ar-BMC-pa55word';
const ROOT_HASH = '$6$rounds=4096$kickstand$yZ3VgO2Qj7D5fJf0x2ZC0s7zU7bq1mV8m0o9GmWJb4G6c8wqT2Yb4H8m8x8d6eQJvCwq2z7Tq4Y1kJ8bPz9Q10';

t.test('no render output carries the BMC password', async (t) => {
  for (const { machine, profile } of await examples()) {
    const m = Machine.parse({ ...machine, bmc: { driver: 'redfish', address: 'https://10.0.0.21', username: 'admin', password: BMC_PASSWORD } });
    const ctx = ctxFor(m, profile);
    const broken = Machine.parse({ ...m, nics: { nope: m.macs[0] } });
    const outputs = [
      installConfig(ctx, env),
      renderIpxe({ kind: 'install', ctx }, env),
      renderIpxe({ kind: 'local', name: m.name, firmware: profile.firmware, urls: URLS }, env),
      renderIpxe({ kind: 'error', name: m.name, mac: m.macs[0], problems: lintMachine(broken, profile), urls: URLS }, env),
    ];
    for (const out of outputs) t.notMatch(out, BMC_PASSWORD, `${m.name}: no BMC password`);
  }
});

t.test('the root password appears only as its hash, on the rootpw line', async (t) => {
  const web = (await examples()).find((e) => e.machine.name === 'web-01')!;
  t.equal(web.profile.rootPasswordHash, ROOT_HASH, 'the example profile carries the hash');
  const ks = installConfig(ctxFor(web.machine, web.profile), env);
  const lines = ks.split('\n').filter((l) => l.includes(ROOT_HASH));
  t.same(lines, [`rootpw --iscrypted ${ROOT_HASH}`]);
  t.notMatch(ks, /rootpw (?!--iscrypted|--lock)/, 'never a plain rootpw');
  t.notMatch(ks, /--plaintext/);
});

t.test('Ignition carries the root hash only as passwordHash of root', async (t) => {
  const edge = (await examples()).find((e) => e.machine.name === 'edge-01')!;
  const profile = { ...edge.profile, rootPasswordHash: ROOT_HASH };
  const text = installConfig(ctxFor(edge.machine, profile), env);
  t.equal(text.split(ROOT_HASH).length - 1, 1, 'once');
  t.equal(JSON.parse(text).passwd.users.find((u: { name: string }) => u.name === 'root').passwordHash, ROOT_HASH);
});
