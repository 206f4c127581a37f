import { mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig } from '../server/config/load.js';
import { defaultInstance, INSTANCE_NAME } from '../server/config/schema.js';

t.test('defaults, the shipped kickstand.yaml, and KICKSTAND_* overrides', async (t) => {
  const d = loadConfig({ env: {} });
  t.equal(d.http.port, 8080);
  t.equal(d.tftp.port, 6969);
  t.equal(d.dhcp.mode, 'off');
  t.equal(d.inventory, 'machines');
  t.same(loadConfig({ file: 'kickstand.yaml', env: {} }), d, 'kickstand.yaml documents the defaults');
  const c = loadConfig({
    file: 'kickstand.yaml',
    env: { KICKSTAND_HTTP_PORT: '9090', KICKSTAND_DHCP_MODE: 'proxy', KICKSTAND_DHCP_INTERFACE: 'eno2', KICKSTAND_DATA_DIR: '/srv/ks', KICKSTAND_API_TOKEN: 'x'.repeat(32), KICKSTAND_INVENTORY: '/etc/ks', KICKSTAND_TFTP_PORT: '69' },
  });
  t.same([c.http.port, c.dhcp.mode, c.dhcp.interface, c.dataDir, c.api.token, c.inventory, c.tftp.port], [9090, 'proxy', 'eno2', '/srv/ks', 'x'.repeat(32), '/etc/ks', 69]);
});

t.test('bad config names the key and the variable', async (t) => {
  t.throws(() => loadConfig({ env: { KICKSTAND_HTTP_PORT: 'eighty' } }), new ConfigError('KICKSTAND_HTTP_PORT: must be a whole number, got "eighty"'));
  t.throws(() => loadConfig({ env: { KICKSTAND_DHCP_STANDBY: 'yes' } }), new ConfigError('KICKSTAND_DHCP_STANDBY: must be true or false, got "yes"'));
  t.equal(loadConfig({ env: { KICKSTAND_DHCP_STANDBY: 'true' } }).dhcp.standby, true, 'a boolean variable');
  t.equal(loadConfig({ env: { KICKSTAND_DHCP_STANDBY: 'false' } }).dhcp.standby, false);
  const err = t.throws(() => loadConfig({ env: { KICKSTAND_DHCP_MODE: 'sometimes' } })) as Error;
  t.match(err.message, /dhcp\.mode \(or KICKSTAND_DHCP_MODE\)/);
  const dir = mkdtempSync(join(tmpdir(), 'ks-cfg-'));
  writeFileSync(join(dir, 'bad.yaml'), 'dhcp:\n  subnets:\n    - cidr: 10.0.0.0/33\n');
  t.match((t.throws(() => loadConfig({ file: join(dir, 'bad.yaml'), env: {} })) as Error).message, /dhcp\.subnets\.0\.cidr/);
  writeFileSync(join(dir, 'broken.yaml'), 'http: [\n');
  t.match((t.throws(() => loadConfig({ file: join(dir, 'broken.yaml'), env: {} })) as Error).message, /broken\.yaml/);
});

t.test('secrets.dirs: /etc/kickstand and DATA_DIR/secrets by default, KICKSTAND_SECRETS_DIRS colon-separated', async (t) => {
  t.same(loadConfig({ env: {} }).secrets.dirs, ['/etc/kickstand', 'var/secrets']);
  t.same(loadConfig({ env: { KICKSTAND_DATA_DIR: '/srv/ks' } }).secrets.dirs, ['/etc/kickstand', '/srv/ks/secrets'], 'follows the data directory');
  t.same(loadConfig({ env: { KICKSTAND_SECRETS_DIRS: '/run/secrets:/etc/kickstand/bmc' } }).secrets.dirs, ['/run/secrets', '/etc/kickstand/bmc']);
  const dir = mkdtempSync(join(tmpdir(), 'ks-cfg-'));
  writeFileSync(join(dir, 'secrets.yaml'), 'secrets:\n  dirs: [/srv/vault]\n');
  t.same(loadConfig({ file: join(dir, 'secrets.yaml'), env: {} }).secrets.dirs, ['/srv/vault']);
  writeFileSync(join(dir, 'empty.yaml'), 'secrets:\n  dirs: []\n');
  t.match((t.throws(() => loadConfig({ file: join(dir, 'empty.yaml'), env: {} })) as Error).message, /secrets\.dirs \(or KICKSTAND_SECRETS_DIRS\)/);
});

t.test('unknownMachines: top-level or the older dhcp.unknownMachines, KICKSTAND_UNKNOWN_MACHINES', async (t) => {
  t.equal(loadConfig({ env: {} }).unknownMachines, 'ignore');
  const env = loadConfig({ env: { KICKSTAND_UNKNOWN_MACHINES: 'discover' } });
  t.same([env.unknownMachines, env.dhcp.unknownMachines], ['discover', 'discover'], 'the DHCP server sees the same value');
  const dir = mkdtempSync(join(tmpdir(), 'ks-cfg-'));
  writeFileSync(join(dir, 'old.yaml'), 'dhcp:\n  unknownMachines: local\n');
  t.equal(loadConfig({ file: join(dir, 'old.yaml'), env: {} }).unknownMachines, 'local', 'dhcp.unknownMachines keeps working');
  t.equal(loadConfig({ file: join(dir, 'old.yaml'), env: { KICKSTAND_UNKNOWN_MACHINES: 'discover' } }).dhcp.unknownMachines, 'discover', 'the top-level key wins');
  t.match((t.throws(() => loadConfig({ env: { KICKSTAND_UNKNOWN_MACHINES: 'sometimes' } })) as Error).message, /unknownMachines \(or KICKSTAND_UNKNOWN_MACHINES\)/);
});

t.test('instance: the host name by default, KICKSTAND_INSTANCE, a DNS-label-ish name', async (t) => {
  t.equal(loadConfig({ env: {} }).instance, defaultInstance(hostname()), 'the host name');
  t.equal(loadConfig({ env: { KICKSTAND_INSTANCE: 'rack-a_1.b' } }).instance, 'rack-a_1.b');
  t.equal(loadConfig({ env: { KICKSTAND_INSTANCE: 'x'.repeat(63) } }).instance, 'x'.repeat(63), '63 characters');
  for (const bad of ['x'.repeat(64), 'rack a', 'rack/a', '-rack', '.rack', 'räck', 'rack"a'])
    t.match((t.throws(() => loadConfig({ env: { KICKSTAND_INSTANCE: bad } })) as Error).message, /^invalid configuration:\n {2}instance \(or KICKSTAND_INSTANCE\): /, `refused: ${bad}`);
  const dir = mkdtempSync(join(tmpdir(), 'ks-cfg-'));
  writeFileSync(join(dir, 'instance.yaml'), 'instance: rack-b\n');
  t.equal(loadConfig({ file: join(dir, 'instance.yaml'), env: {} }).instance, 'rack-b');
  t.equal(loadConfig({ file: join(dir, 'instance.yaml'), env: { KICKSTAND_INSTANCE: 'rack-c' } }).instance, 'rack-c', 'the variable wins');
  t.equal(defaultInstance('web-01.example.com'), 'web-01.example.com');
  t.equal(defaultInstance('my host!'), 'my-host-', 'other characters become -');
  t.equal(defaultInstance('-x'), 'x', 'a leading - . _ goes');
  t.equal(defaultInstance('h'.repeat(64)), 'h'.repeat(63), 'cut at 63');
  t.equal(defaultInstance(''), 'kickstand', 'nothing left: kickstand');
  t.match(defaultInstance(), INSTANCE_NAME, 'this host gives a valid name');
});
