import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';

const profile = minimalProfile('p1', 'uefi');
const MAC = '52:54:00:aa:bb:01';
const machine = { name: 'node-1', profile: 'p1', macs: [MAC], bmc: { driver: 'manual' } };
const HOSTKEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVbm9Z6m3uVZb6xO9w5q0rQ2m6Hq1sY3S9m1k8a0bXc root@node-1';

function clock(start = Date.parse('2026-11-21T10:00:00Z')) {
  return { t: start, now() { return this.t; }, advance(s: number) { this.t += s * 1000; } };
}

async function setup(t: Test, c = clock(), dataDir?: string) {
  const assets = mkdtempSync(join(tmpdir(), 'ks-assets-'));
  mkdirSync(join(assets, 'rocky-9'));
  writeFileSync(join(assets, 'rocky-9', 'vmlinuz'), Buffer.alloc(4096, 7));
  const env = await startTestService(t, { dataDir, config: { assets: { dir: assets } }, service: { clock: c } });
  const { api } = env;
  if ((await api('GET', '/api/v1/profiles/p1')).status === 404) {
    await api('POST', '/api/v1/profiles', profile);
    await api('POST', '/api/v1/machines', machine);
  }
  const boot = async (path: string, init?: RequestInit) => fetch(`${env.base}/boot${path}`, init);
  const settle = () => env.svc.lifecycle.idle();
  return { ...env, boot, settle, c };
}

t.test('a full reinstall driven by boot requests passes every state in order', async (t) => {
  const { api, boot, settle } = await setup(t);
  const r = await api('POST', '/api/v1/machines/node-1/reinstall');
  t.equal(r.status, 202);
  await settle();
  t.equal((await api('GET', '/api/v1/machines/node-1/progress')).json.state, 'power-cycling');
  t.equal((await api('POST', '/api/v1/machines/node-1/reinstall')).status, 409, 'a second reinstall while one runs is refused');

  const script = await (await boot(`/ipxe?mac=${MAC}`)).text();
  const token = /token=(\S+)/.exec(script)?.[1];
  t.ok(token, 'the install script carries the install token');
  await settle();
  t.equal((await (await boot('/assets/rocky-9/vmlinuz')).arrayBuffer()).byteLength, 4096);
  const ranged = await boot('/assets/rocky-9/vmlinuz', { headers: { range: 'bytes=100-199' } });
  t.equal(ranged.status, 206);
  t.equal((await ranged.arrayBuffer()).byteLength, 100);
  await settle();
  t.equal((await boot('/kickstart?token=not-the-token')).status, 403, 'a wrong token gets no kickstart');
  const ks = await boot(`/kickstart?token=${token}`);
  t.equal(ks.status, 200);
  t.match(await ks.text(), /kickstart for node-1/);
  await settle();
  const post = (ev: string, body = '', q = '') => boot(`/callback/${ev}?token=${token}${q}`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal((await post('start')).status, 200);
  t.equal((await post('progress', 'packages installed', '&step=packages')).status, 200);
  t.equal((await post('hostkeys', `${HOSTKEY}\nnot a key\n`)).status, 200);
  t.equal((await post('nonsense')).status, 400, 'unknown callback event');
  t.equal((await post('built')).status, 200);
  await settle();

  const p = (await api('GET', '/api/v1/machines/node-1/progress')).json;
  t.equal(p.state, 'ready');
  t.equal(p.percent, 100);
  const states = p.events.filter((e: { kind: string }) => e.kind === 'state').map((e: { data: { to: string } }) => e.data.to);
  t.same(states, ['reinstall-requested', 'power-cycling', 'pxe-booting', 'installer-booting', 'installing', 'installed', 'converging', 'ready']);
  t.ok(p.events.some((e: { kind: string; message: string }) => e.kind === 'power' && /power-cycle/.test(e.message)), 'manual driver asked the operator');
  t.ok(p.events.some((e: { kind: string; message: string }) => e.kind === 'callback' && /progress: packages/.test(e.message)));
  const after = await (await boot(`/ipxe?mac=${MAC}`)).text();
  t.match(after, /# local/, 'after built, netboot is local');
  t.equal((await boot(`/kickstart?token=${token}`)).status, 410, 'no kickstart once the install has ended');
});

t.test('deadlines fail the machine with the phase and a hint; restart keeps state and deadline', async (t) => {
  const c = clock();
  const dataDir = mkdtempSync(join(tmpdir(), 'ks-restart-'));
  {
    const { api, settle, svc } = await setup(t, c, dataDir);
    await api('POST', '/api/v1/machines/node-1/reinstall');
    await settle();
    c.advance(60);
    await svc.lifecycle.tick();
    t.equal((await api('GET', '/api/v1/machines/node-1/progress')).json.state, 'power-cycling', 'not yet');
    await svc.close();
  }
  const { api, svc } = await setup(t, c, dataDir);
  t.equal((await api('GET', '/api/v1/machines/node-1/progress')).json.state, 'power-cycling', 'state survives a restart');
  c.advance(300);
  await svc.lifecycle.tick();
  const p = (await api('GET', '/api/v1/machines/node-1/progress')).json;
  t.equal(p.state, 'failed');
  t.equal(p.phase, 'power-cycling');
  t.match(p.reason, /deadline of 300 s/);
  t.match(p.hint, /no DHCP from this MAC/);
});

t.test('token rules: fetch needs a live token; late callbacks still count; old installs are refused', async (t) => {
  const c = clock();
  const { api, boot, settle } = await setup(t, c);
  await api('POST', '/api/v1/machines/node-1/reinstall');
  await settle();
  const token = /token=(\S+)/.exec(await (await boot(`/ipxe?mac=${MAC}`)).text())![1];
  t.equal((await boot(`/kickstart?token=${token}`)).status, 200, 'the installer fetches its kickstart');
  c.advance(7201);
  const expired = await boot(`/kickstart?token=${token}`);
  t.equal(expired.status, 403);
  t.match(await expired.text(), /expired/);
  t.equal((await boot(`/callback/start?token=${token}`, { method: 'POST' })).status, 200, 'a callback after expiry is accepted');

  t.equal((await api('POST', '/api/v1/machines/node-1/reinstall?force=true')).status, 202, 'force replaces a running install');
  await settle();
  const old = await boot(`/callback/built?token=${token}`, { method: 'POST' });
  t.equal(old.status, 410, 'a callback of the superseded install is gone');
  t.not((await api('GET', '/api/v1/machines/node-1/progress')).json.state, 'installed');

  const fresh = /token=(\S+)/.exec(await (await boot(`/ipxe?mac=${MAC}`)).text())![1];
  t.not(fresh, token, 'each reinstall gets a new token');
  t.equal((await api('POST', '/api/v1/machines/node-1/cancel')).status, 200);
  const p = (await api('GET', '/api/v1/machines/node-1/progress')).json;
  t.equal(p.state, 'failed');
  t.match(p.reason, /cancelled/);
  t.equal((await boot(`/kickstart?token=${fresh}`)).status, 410, 'a cancelled install has no live token');
  t.equal((await boot(`/callback/failed?token=${fresh}`, { method: 'POST', body: 'log tail' })).status, 410);
});

t.test('installer failure ends in failed with the phase; the event keeps the log tail', async (t) => {
  const { api, boot, settle } = await setup(t);
  await api('POST', '/api/v1/machines/node-1/reinstall');
  await settle();
  const token = /token=(\S+)/.exec(await (await boot(`/ipxe?mac=${MAC}`)).text())![1];
  await boot(`/kickstart?token=${token}`);
  await settle();
  await boot(`/callback/failed?token=${token}`, { method: 'POST', body: 'anaconda: disk not found' });
  await settle();
  const p = (await api('GET', '/api/v1/machines/node-1/progress')).json;
  t.equal(p.state, 'failed');
  t.equal(p.phase, 'installing');
  t.ok(p.events.some((e: { data?: { log?: string } }) => e.data?.log === 'anaconda: disk not found'));
});

t.test('SSE: live events, filtered by machine, resumable with Last-Event-ID', async (t) => {
  const { api, base, settle, config } = await setup(t);
  const seen: { id: number; kind: string; machine: string }[] = [];
  const ac = new AbortController();
  const res = await fetch(`${base}/api/v1/events?machine=node-1`, { headers: { authorization: `Bearer ${config.api.token}` }, signal: ac.signal });
  t.equal(res.headers.get('content-type'), 'text/event-stream');
  const reading = (async () => {
    let buf = '';
    try {
      for await (const chunk of res.body!) {
        buf += Buffer.from(chunk).toString();
        for (let i; (i = buf.indexOf('\n\n')) >= 0; buf = buf.slice(i + 2)) {
          const data = buf.slice(0, i).split('\n').find((l) => l.startsWith('data: '));
          if (data) seen.push(JSON.parse(data.slice(6)));
        }
      }
    } catch {
      /* aborted */
    }
  })();
  await api('POST', '/api/v1/machines/node-1/reinstall');
  await settle();
  await new Promise((r) => setTimeout(r, 200));
  ac.abort();
  await reading;
  t.ok(seen.some((e) => e.kind === 'state'), 'state events arrive live');
  t.ok(seen.every((e) => e.machine === 'node-1'));
  const ids = seen.map((e) => e.id);
  t.same(ids, [...ids].sort((a, b) => a - b), 'in order');
  const resumed = await fetch(`${base}/api/v1/events?machine=node-1`, { headers: { authorization: `Bearer ${config.api.token}`, 'last-event-id': String(ids[0]) } });
  const reader = resumed.body!.getReader();
  let text = '';
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline && (text.match(/^id: /gm) ?? []).length < ids.length - 1) text += Buffer.from((await reader.read()).value!).toString();
  await reader.cancel();
  const resumedIds = [...text.matchAll(/^id: (\d+)/gm)].map((m) => Number(m[1]));
  t.same(resumedIds, ids.slice(1), 'backlog after Last-Event-ID, nothing twice');
});
