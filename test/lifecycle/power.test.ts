import t from 'tap';
import { memoryBackend, startFakeBmc } from '../e2e/fake-bmc/redfish.js';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';

const profile = minimalProfile('uefi1', 'uefi');

t.test('reinstall drives the BMC: PXE once in UEFI mode, then a power cycle', async (t) => {
  const backend = memoryBackend('On');
  const bmc = await startFakeBmc({ backend, password: 'bmc-pass-123' });
  t.teardown(() => bmc.close());
  const { api, svc, logs } = await startTestService(t);
  await api('POST', '/api/v1/profiles', profile);
  const bmcCfg = { driver: 'redfish', address: bmc.url, username: 'admin', password: 'bmc-pass-123', tls: { fingerprint: bmc.fingerprint }, timeoutSeconds: 5 };
  t.equal((await api('POST', '/api/v1/machines', { name: 'rf-01', profile: 'uefi1', macs: ['52:54:00:00:aa:01'], bmc: bmcCfg })).status, 201);
  t.equal((await api('POST', '/api/v1/machines/rf-01/reinstall')).status, 202);
  await svc.lifecycle.idle();
  t.match(bmc.boots.at(-1), { device: 'Pxe', mode: 'UEFI' }, 'the boot after the reset was PXE, in the profile firmware mode');
  t.match(bmc.boot, { enabled: 'Disabled' }, 'and the override was for that one boot only');
  const kinds = bmc.log.map((l: { kind: string }) => l.kind);
  t.ok(kinds.indexOf('patch') < kinds.indexOf('reset'), 'override set before the reset');
  t.match(bmc.log.find((l) => l.kind === 'reset'), { resetType: 'ForceRestart' }, 'a machine that is on is restarted');
  const p = (await api('GET', '/api/v1/machines/rf-01/progress')).json;
  t.equal(p.state, 'power-cycling');
  t.ok(p.events.some((e: { kind: string; message: string }) => e.kind === 'power' && /power cycle sent/.test(e.message)));
  t.notOk(logs.lines.some((l) => l.includes('bmc-pass-123')), 'the BMC password is not logged');
});

t.test('a BMC that refuses the password fails the reinstall with the reason, quickly', async (t) => {
  const bmc = await startFakeBmc({ refuseAuth: true });
  t.teardown(() => bmc.close());
  const { api, svc } = await startTestService(t);
  await api('POST', '/api/v1/profiles', profile);
  const bmcCfg = { driver: 'redfish', address: bmc.url, username: 'admin', password: 'wrong-password-9', tls: { fingerprint: bmc.fingerprint }, timeoutSeconds: 5 };
  await api('POST', '/api/v1/machines', { name: 'rf-02', profile: 'uefi1', macs: ['52:54:00:00:aa:02'], bmc: bmcCfg });
  const started = Date.now();
  await api('POST', '/api/v1/machines/rf-02/reinstall');
  await svc.lifecycle.idle();
  t.ok(Date.now() - started < 10000, 'no hang');
  const p = (await api('GET', '/api/v1/machines/rf-02/progress')).json;
  t.equal(p.state, 'failed');
  t.equal(p.phase, 'power-cycling');
  t.match(p.reason, /power driver redfish/);
  t.notMatch(JSON.stringify(p), 'wrong-password-9');
});

t.test('a BMC that never answers fails within its timeout', async (t) => {
  const bmc = await startFakeBmc({ hang: true });
  t.teardown(() => bmc.close());
  const { api, svc } = await startTestService(t);
  await api('POST', '/api/v1/profiles', profile);
  await api('POST', '/api/v1/machines', { name: 'rf-03', profile: 'uefi1', macs: ['52:54:00:00:aa:03'], bmc: { driver: 'redfish', address: bmc.url, username: 'a', password: 'b', tls: { verify: false }, timeoutSeconds: 2 } });
  const started = Date.now();
  await api('POST', '/api/v1/machines/rf-03/reinstall');
  await svc.lifecycle.idle();
  t.ok(Date.now() - started < 8000, `settled in ${Date.now() - started} ms`);
  const p = (await api('GET', '/api/v1/machines/rf-03/progress')).json;
  t.equal(p.state, 'failed');
  t.match(p.reason, /time|answer/i);
});
