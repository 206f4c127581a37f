import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { cli, startServe } from './process.js';

const SECRET = 'hunter2-bmc-S3cret';
const HASH = '$6$rounds=4096$kickstand$yZ3VgO2Qj7D5fJf0x2ZC0s7zU7bq1mV8m0o9GmWJb4G6c8wqT2Yb4H8m8x8d6eQJvCwq2z7Tq4Y1kJ8bPz9Q10';

t.test('serve, CLI, kill -9 durability and log redaction, as real processes', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ks-serve-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { KICKSTAND_DATA_DIR: dataDir, KICKSTAND_INVENTORY: 'machines', KICKSTAND_LOG_LEVEL: 'debug' };

  const first = await startServe(env);
  t.teardown(() => first.proc.kill('SIGKILL'));
  t.match(first.stderr(), /DHCP\s+off/, 'banner says DHCP is off');
  t.match(first.stderr(), /console http:\/\/(localhost|127\.0\.0\.1):\d+\/ui\/ /, 'and where the web console is');
  t.match(first.stderr(), /KICKSTAND_DHCP_MODE/, 'and how to enable it');
  t.match(first.stderr(), /unknown MACs\s+ignore \(KICKSTAND_UNKNOWN_MACHINES=discover/, 'what happens to unknown MACs, and how to discover them');
  const token = readFileSync(join(dataDir, 'api-token'), 'utf8').trim();
  t.notMatch(first.stderr(), token, 'the generated token is not printed (banners end up in journald and docker logs)');
  t.match(first.stderr(), `${join(dataDir, 'api-token')}`, 'the banner says where it is');
  const cenv = { KICKSTAND_URL: `http://127.0.0.1:${first.port}`, KICKSTAND_API_TOKEN: token };

  const list = await cli(['machine', 'list'], cenv);
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, /^NAME\s+STATE\s+PROFILE\s+MACS/m);
  t.match(list.stdout, /web-01\s+registered\s+r640-raid1-bond\s+52:54:00:12:34:56,52:54:00:12:34:57/);

  const plan = await cli(['apply', '-f', 'machines', '--dry-run'], cenv);
  t.equal(plan.code, 0, plan.stderr);
  t.match(plan.stdout, /plan: 0 change\(s\), 7 unchanged/, 'the inventory loaded at start (its rule too) is what apply would write');

  const dir = mkdtempSync(join(tmpdir(), 'ks-inv-'));
  const fs = await import('node:fs');
  fs.cpSync('machines', dir, { recursive: true });
  fs.writeFileSync(
    join(dir, 'db-01.yaml'),
    `kind: machine\nname: db-01\nprofile: small-bios\nmacs: ["52:54:00:dd:00:01"]\nbmc: { driver: ipmi, address: "127.0.0.1:9", username: admin, password: "${SECRET}", timeoutSeconds: 2 }\n`,
  );
  fs.writeFileSync(join(dir, 'profiles', 'small-bios.yaml'), fs.readFileSync('machines/profiles/small-bios.yaml', 'utf8') + `rootPasswordHash: "${HASH}"\n`);
  const apply = await cli(['apply', '-f', dir], cenv);
  t.equal(apply.code, 0, apply.stderr);
  t.match(apply.stdout, /create\s+machine\s+db-01/);
  t.match(apply.stdout, /update\s+profile\s+small-bios/);
  t.match(apply.stdout, /applied 2 change\(s\)/);
  const again = await cli(['apply', '-f', dir], cenv);
  t.match(again.stdout, /plan: 0 change\(s\), 8 unchanged/, 'a second apply changes nothing');

  const bad = await cli(['machine', 'add', '-f', join(dir, 'db-01.yaml')], { ...cenv, KICKSTAND_API_TOKEN: 'wrong-wrong-wrong-wrong' });
  t.equal(bad.code, 1);
  t.match(bad.stderr, /bearer token/);

  const shown = await cli(['machine', 'show', 'db-01'], cenv);
  t.notMatch(shown.stdout, SECRET, 'the BMC password is never shown');
  t.match(shown.stdout, /"passwordSet": true/);

  // The ipmi "BMC" at 127.0.0.1:9 does not answer: the reinstall fails in power-cycling with a reason.
  const re = await cli(['reinstall', 'db-01', '--wait', '--timeout', '60'], cenv);
  t.equal(re.code, 1, 'reinstall --wait exits non-zero on failed');
  t.match(re.stderr, /db-01: failed in power-cycling: power driver ipmi/);
  const ks = await cli(['render', 'util-01', 'kickstart'], cenv);
  t.match(ks.stdout, /rootpw --iscrypted \$6\$rounds=4096/, 'the hash is in the kickstart, where it belongs');

  // Acknowledged writes survive kill -9.
  const put = await fetch(`http://127.0.0.1:${first.port}/api/v1/machines`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'fresh-01', profile: 'small-bios', macs: ['52:54:00:ff:00:01'] }),
  });
  t.equal(put.status, 201);
  first.proc.kill('SIGKILL');
  await new Promise((r) => first.proc.once('exit', r));
  const logs = first.stdout();
  t.ok(logs.length > 1000, 'the service logged');
  for (const secret of [SECRET, HASH.slice(0, 30), token]) t.notMatch(logs, secret, `no secret in the logs (${secret.slice(0, 6)}…)`);
  t.notMatch(logs, /token=[A-Za-z0-9_-]{20,}/, 'no install token in logged URLs');

  const second = await startServe(env);
  t.teardown(() => second.proc.kill('SIGKILL'));
  t.notMatch(second.stderr(), token, 'the token is printed only when it is created');
  const got = await cli(['machine', 'show', 'fresh-01'], { ...cenv, KICKSTAND_URL: `http://127.0.0.1:${second.port}` });
  t.equal(got.code, 0, 'the machine acknowledged before kill -9 is there after restart');
  const st = await cli(['progress', 'db-01', '--json'], { ...cenv, KICKSTAND_URL: `http://127.0.0.1:${second.port}` });
  t.equal(JSON.parse(st.stdout).state, 'failed', 'and so is the lifecycle state');
  second.proc.kill('SIGTERM');
});
