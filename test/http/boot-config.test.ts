import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Config } from '../../server/config/schema.js';
import { createRenderers } from '../../server/render/renderers.js';
import { builtinDirs } from '../../server/render/env.js';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';

/**
 * GET /boot/kickstart and /boot/ignition: what a machine gets for its install token, through
 * every way an install or its inputs can change underneath. Each step asks the same URL again
 * right after a change, so an answer remembered from before the change fails the test.
 */

const MAC = '52:54:00:aa:cc:01';
const machine = { name: 'node-1', profile: 'p1', macs: [MAC], bmc: { driver: 'manual' } };

const ENDED = 'the install of this token has ended';

function clock(start = Date.parse('2026-11-21T10:00:00Z')) {
  return { t: start, now() { return this.t; }, advance(s: number) { this.t += s * 1000; } };
}

async function setup(t: Test, c = clock()) {
  const env = await startTestService(t, { service: { clock: c } });
  const { api } = env;
  t.equal((await api('POST', '/api/v1/profiles', minimalProfile('p1'))).status, 201);
  t.equal((await api('POST', '/api/v1/profiles', minimalProfile('p2'))).status, 201);
  t.equal((await api('POST', '/api/v1/machines', machine)).status, 201);
  const settle = () => env.svc.lifecycle.idle();
  const get = async (path: string) => {
    const res = await fetch(`${env.base}/boot${path}`);
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };
  /** Starts an install and returns its token, taken from the iPXE script as a machine would. */
  const install = async (force = false) => {
    t.equal((await api('POST', `/api/v1/machines/node-1/reinstall${force ? '?force=true' : ''}`)).status, 202);
    await settle();
    const token = /token=(\S+)/.exec((await get(`/ipxe?mac=${MAC}`)).text)?.[1];
    t.ok(token, 'the install script carries a token');
    await settle();
    return token!;
  };
  const callback = (event: string, token: string) => fetch(`${env.base}/boot/callback/${event}?token=${token}`, { method: 'POST', body: '' });
  const served = (kind: string, token: string, profile = 'p1') => ({ status: 200, text: `# ${kind} for node-1 (${profile}) token=${token}\n` });
  const refused = (kind: string, reason: string) => ({ status: reason === ENDED ? 410 : 403, type: 'text/plain', text: `# ${kind} refused: ${reason}\n` });
  const kickstartEvents = async () => {
    await settle();
    return (await env.svc.reads.events({ machine: 'node-1', limit: 100000 })).filter((e) => e.kind === 'kickstart');
  };
  return { ...env, c, settle, get, install, callback, served, refused, kickstartEvents };
}

t.test('query validation: the same 400 bodies as the schema gives, for both kinds', async (t) => {
  const { get } = await setup(t);
  const bad = (message: string) => ({
    status: 400,
    type: 'application/json; charset=utf-8',
    text: JSON.stringify({ error: 'Bad Request', message: `querystring.token: ${message}`, issues: [{ path: 'querystring.token', message }] }),
  });
  for (const kind of ['kickstart', 'ignition']) {
    t.same(await get(`/${kind}`), bad('Invalid input: expected string, received undefined'), `${kind}: no token`);
    t.same(await get(`/${kind}?tok=1`), bad('Invalid input: expected string, received undefined'), `${kind}: no token, another parameter`);
    t.same(await get(`/${kind}?token=`), bad('Too small: expected string to have >=1 characters'), `${kind}: empty token`);
    t.same(await get(`/${kind}?token=${'a'.repeat(201)}`), bad('Too big: expected string to have <=200 characters'), `${kind}: 201 characters`);
    t.same(await get(`/${kind}?token=a&token=b`), bad('Invalid input: expected string, received array'), `${kind}: token twice`);
    // UTF-16 length, as the schema counts: 100 × "é" is 200 characters and 400 bytes in the URL.
    t.same(await get(`/${kind}?token=${'%C3%A9'.repeat(100)}`), { status: 403, type: 'text/plain', text: `# ${kind} refused: unknown token\n` }, `${kind}: 200 characters pass`);
    t.same(await get(`/${kind}?token=${'a'.repeat(200)}&other=1`), { status: 403, type: 'text/plain', text: `# ${kind} refused: unknown token\n` }, `${kind}: other parameters are ignored`);
  }
});

t.test('every fetch is served for the current install and recorded as a kickstart event', async (t) => {
  const { get, install, served, kickstartEvents } = await setup(t);
  const token = await install();
  for (let i = 0; i < 25; i++) t.same(await get(`/kickstart?token=${token}`), { ...served('kickstart', token), type: 'text/plain; charset=utf-8' });
  const events = await kickstartEvents();
  t.equal(events.length, 25, 'one event per fetch, none merged');
  t.ok(events.every((e) => e.level === 'info' && /^kickstart served \(\d+ bytes\)$/.test(e.message) && e.ip === '127.0.0.1'));
  const ign = await get(`/ignition?token=${token}`);
  t.same(ign, { ...served('ignition', token), type: 'application/json; charset=utf-8' }, 'ignition by the same token, as JSON');
});

t.test('a reinstall invalidates the old token at once; the new one works', async (t) => {
  const { get, install, served, refused } = await setup(t);
  const first = await install();
  t.equal((await get(`/kickstart?token=${first}`)).status, 200);
  const second = await install(true);
  t.not(second, first, 'a new token per reinstall');
  t.same(await get(`/kickstart?token=${first}`), refused('kickstart', ENDED), 'the superseded token is refused: gone');
  t.same(await get(`/ignition?token=${first}`), refused('ignition', ENDED));
  t.match(await get(`/kickstart?token=${second}`), served('kickstart', second));
});

t.test('built ends fetching; a late callback of the current install still counts', async (t) => {
  const { api, get, install, callback, served, refused, settle, c } = await setup(t);
  const token = await install();
  t.match(await get(`/kickstart?token=${token}`), served('kickstart', token));
  await settle();
  c.advance(7201);
  t.same(await get(`/kickstart?token=${token}`), refused('kickstart', 'token expired'), 'expiry is checked on every fetch');
  t.equal((await callback('start', token)).status, 200, 'a callback after expiry is accepted');
  t.equal((await callback('built', token)).status, 200);
  await settle();
  c.advance(-7201);
  t.same(await get(`/kickstart?token=${token}`), refused('kickstart', ENDED), 'no fetch after built, even within the lifetime');
  t.equal((await api('DELETE', '/api/v1/machines/node-1')).status, 204, 'a ready machine may be deleted');
  t.same(await get(`/kickstart?token=${token}`), refused('kickstart', 'unknown token'), 'its tokens go with it');
});

t.test('a cancel refuses the token; deleting the machine refuses it for good', async (t) => {
  const { api, get, install, served, refused, settle } = await setup(t);
  const token = await install();
  t.match(await get(`/kickstart?token=${token}`), served('kickstart', token));
  t.equal((await api('POST', '/api/v1/machines/node-1/cancel')).status, 200);
  t.same(await get(`/kickstart?token=${token}`), refused('kickstart', ENDED), 'cancelled');

  const next = await install();
  t.match(await get(`/kickstart?token=${next}`), served('kickstart', next));
  t.equal((await api('POST', '/api/v1/machines/node-1/cancel')).status, 200);
  await settle();
  t.equal((await api('DELETE', '/api/v1/machines/node-1')).status, 204);
  t.same(await get(`/kickstart?token=${next}`), refused('kickstart', 'unknown token'), 'deleted machine');
  t.equal((await api('POST', '/api/v1/machines', machine)).status, 201, 'the same name again');
  t.same(await get(`/kickstart?token=${next}`), refused('kickstart', 'unknown token'), 'a machine re-created under the same name does not revive it');
});

t.test('a machine edit during the install shows in the next fetch', async (t) => {
  const { api, get, install, served } = await setup(t);
  const token = await install();
  t.match(await get(`/kickstart?token=${token}`), served('kickstart', token, 'p1'));
  t.equal((await api('PUT', '/api/v1/machines/node-1', { ...machine, profile: 'p2' })).status, 200);
  t.match(await get(`/kickstart?token=${token}`), served('kickstart', token, 'p2'), 'the machine now uses p2');
});

t.test('real renders: profile edits and template edits show without a restart; lint still refuses', async (t) => {
  const templates = mkdtempSync(join(tmpdir(), 'ks-tpl-'));
  t.teardown(() => rmSync(templates, { recursive: true, force: true }));
  mkdirSync(join(templates, 'kickstart'));
  const config = Config.parse({ templatesDir: templates });
  const { api, base, svc } = await startTestService(t, { config: { templatesDir: templates }, service: { renderers: (key) => createRenderers(config, key) } });
  t.equal((await api('POST', '/api/v1/profiles', minimalProfile('p1'))).status, 201);
  t.equal((await api('POST', '/api/v1/machines', machine)).status, 201);
  t.equal((await api('POST', '/api/v1/machines/node-1/reinstall')).status, 202);
  await svc.lifecycle.idle();
  const token = (await svc.installs.installToken('node-1'))!.token;
  const kickstart = async () => {
    const res = await fetch(`${base}/boot/kickstart?token=${token}`);
    return { status: res.status, text: await res.text() };
  };
  const first = await kickstart();
  t.equal(first.status, 200);
  t.match(first.text, /^timezone UTC/m);
  t.match(first.text, new RegExp(`/boot/callback/built\\?token=${token}`), 'the token is in the callbacks');

  t.equal((await api('PUT', '/api/v1/profiles/p1', { ...minimalProfile('p1'), timezone: 'Europe/Berlin' })).status, 200);
  t.match((await kickstart()).text, /^timezone Europe\/Berlin/m, 'the profile edit shows in the next fetch');

  // An operator override of the kickstart template, picked up at the next check (1 s).
  const builtin = readFileSync(join(builtinDirs.templates, 'kickstart', 'rocky-9.ks.hbs'), 'utf8');
  writeFileSync(join(templates, 'kickstart', 'rocky-9.ks.hbs'), `# operator override\n${builtin}`);
  await new Promise((r) => setTimeout(r, 1100));
  const edited = await kickstart();
  t.equal(edited.status, 200);
  t.match(edited.text, /^# operator override$/m, 'the template edit shows without a restart');

  // A template whose output fails the kickstart lint: never served.
  writeFileSync(join(templates, 'kickstart', 'rocky-9.ks.hbs'), `%pre\necho {{hostname}}\n`);
  await new Promise((r) => setTimeout(r, 1100));
  const linted = await kickstart();
  t.equal(linted.status, 500);
  t.match(linted.text, /^# kickstart could not be rendered: .*%pre is not closed by %end/);
  await svc.lifecycle.idle();
  t.equal((await svc.reads.status('node-1'))!.state, 'failed', 'the render error fails the install');
});

t.test('a template that does not compile is logged at start, naming its file; the others serve', async (t) => {
  const templates = mkdtempSync(join(tmpdir(), 'ks-tpl-'));
  t.teardown(() => rmSync(templates, { recursive: true, force: true }));
  mkdirSync(join(templates, 'ipxe'));
  writeFileSync(join(templates, 'ipxe', 'local.ipxe.hbs'), '#!ipxe\n{{#if firmware}}\n');
  // renderers undefined: the service's own, as `kickstand serve` builds them.
  const { logs, base } = await startTestService(t, { config: { templatesDir: templates }, service: { renderers: undefined } });
  const warned = logs.lines.map((l) => JSON.parse(l)).filter((l) => l.msg?.startsWith('templates that do not compile'));
  t.equal(warned.length, 1, 'one warning at start');
  t.same(
    warned[0].problems.map((p: { path: string }) => p.path),
    [join(templates, 'ipxe', 'local.ipxe.hbs')],
    'naming the operator file and nothing else',
  );
  const res = await fetch(`${base}/boot/ipxe?mac=52:54:00:00:00:99`);
  t.equal(res.status, 200, 'an unknown MAC still gets its script: the other templates compiled');
});
