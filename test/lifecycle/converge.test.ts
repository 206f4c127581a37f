import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startSshdHost } from '../converge/sshd-host.js';
import { startTestService } from '../helpers/service.js';
import { minimalProfile } from '../helpers/fixtures.js';

const steps = [
  { name: 'tools', kind: 'packages', packages: ['jq'] },
  { name: 'motd', kind: 'file', path: '/etc/motd', template: '{{machine.name}} in rack {{params.rack}}\n' },
  { name: 'chronyd', kind: 'service', service: 'chronyd', restartOn: ['motd'] },
];

/** Plays the installer: script, kickstart, callbacks with the given host key, built. */
async function install(base: string, mac: string, hostKey: string) {
  const token = /token=(\S+)/.exec(await (await fetch(`${base}/boot/ipxe?mac=${mac}`)).text())![1];
  await fetch(`${base}/boot/kickstart?token=${token}`);
  for (const [ev, body] of [['start', ''], ['hostkeys', hostKey], ['built', '']])
    await fetch(`${base}/boot/callback/${ev}?token=${token}`, { method: 'POST', body });
}

t.test('installed → converging → ready against a real sshd with the reported host key; then plan/audit/apply by API', async (t) => {
  const host = await startSshdHost();
  t.teardown(() => host.close());
  writeFileSync(join(host.state, 'units/chronyd.unit'), '');
  const { api, base, svc } = await startTestService(t, { config: { converge: { user: host.user } } });
  host.authorize(host.user, svc.publicKey);
  await api('POST', '/api/v1/profiles', { ...minimalProfile('conv'), converge: steps });
  const mac = '52:54:00:00:cc:01';
  t.equal((await api('POST', '/api/v1/machines', { name: 'conv-01', profile: 'conv', macs: [mac], ipv4: { address: '127.0.0.1/8' }, ssh: { port: host.port }, params: { rack: 'a3' } })).status, 201);
  await api('POST', '/api/v1/machines/conv-01/reinstall');
  await svc.lifecycle.idle();
  await install(base, mac, host.hostKey);
  await svc.lifecycle.idle();
  const p = (await api('GET', '/api/v1/machines/conv-01/progress')).json;
  t.equal(p.state, 'ready', p.reason);
  const converged = p.events.filter((e: { kind: string }) => e.kind === 'converge').map((e: { message: string }) => e.message).join('\n');
  t.match(converged, /motd/, 'converge steps are events on the machine');
  t.ok(host.calls().some((c) => /dnf .*install.*jq/.test(c)), 'the package step ran on the host');

  const audit = await api('POST', '/api/v1/machines/conv-01/converge/audit');
  t.equal(audit.status, 200);
  t.equal(audit.json.ok, true);
  t.same(audit.json.steps.map((s: { status: string }) => s.status), ['ok', 'ok', 'ok'], 'no drift right after converging');
  rmSync(join(host.state, 'units/chronyd.active'));
  const drift = await api('POST', '/api/v1/machines/conv-01/converge/audit');
  t.equal(drift.json.steps.find((s: { name: string }) => s.name === 'chronyd').status, 'drift', 'a stopped service shows as drift');
  const plan = await api('POST', '/api/v1/machines/conv-01/converge/plan');
  t.equal(plan.json.steps.find((s: { name: string }) => s.name === 'chronyd').status, 'would-change');
  t.equal((await api('GET', '/api/v1/machines/conv-01')).json.state, 'ready', 'plan and audit leave the state alone');
  const apply = await api('POST', '/api/v1/machines/conv-01/converge/apply');
  t.equal(apply.json.steps.find((s: { name: string }) => s.name === 'chronyd').status, 'changed');
  t.equal((await api('GET', '/api/v1/machines/conv-01')).json.state, 'ready');
});

t.test('a host answering with another key than the installer reported fails converging, loudly', async (t) => {
  const host = await startSshdHost();
  t.teardown(() => host.close());
  const { api, base, svc } = await startTestService(t, { config: { converge: { user: host.user } } });
  host.authorize(host.user, svc.publicKey);
  await api('POST', '/api/v1/profiles', { ...minimalProfile('conv'), converge: steps });
  const mac = '52:54:00:00:cc:02';
  await api('POST', '/api/v1/machines', { name: 'conv-02', profile: 'conv', macs: [mac], ipv4: { address: '127.0.0.1/8' }, ssh: { port: host.port } });
  await api('POST', '/api/v1/machines/conv-02/reinstall');
  await svc.lifecycle.idle();
  await install(base, mac, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVbm9Z6m3uVZb6xO9w5q0rQ2m6Hq1sY3S9m1k8a0bXc not-this-host');
  await svc.lifecycle.idle();
  const p = (await api('GET', '/api/v1/machines/conv-02/progress')).json;
  t.equal(p.state, 'failed');
  t.equal(p.phase, 'converging');
  t.match(p.reason, /host key/i);
  t.equal(host.calls().length, 0, 'nothing ran on the impostor');
});
