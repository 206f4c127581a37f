/**
 * An install token is one MAC away no more: it goes only to an address tied to the machine, the
 * install is bound to the address that first fetched its kickstart, host keys are taken once,
 * and a finished install's token is gone (410). The second address is a real curl bound to
 * 127.0.0.2.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';

const run = promisify(execFile);
const MAC = '52:54:00:b1:0d:01';
const KEY_A = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVbm9Z6m3uVZb6xO9w5q0rQ2m6Hq1sY3S9m1k8a0bXc';
const KEY_B = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBm9Z6m3uVZb6xO9w5q0rQ2m6Hq1sY3S9m1k8a0bXc';

async function setup(t: Test) {
  const env = await startTestService(t);
  await env.api('POST', '/api/v1/profiles', minimalProfile());
  await env.api('POST', '/api/v1/machines', { name: 'node-1', profile: 'p1', macs: [MAC] });
  /** curl from a source address: status and body. */
  const curl = async (from: string, path: string, opts: { post?: string } = {}) => {
    const args = ['-sS', '--interface', from, '-o', '-', '-w', '\n%{http_code}', `${env.base}/boot${path}`];
    if (opts.post !== undefined) args.push('--data-binary', opts.post);
    const { stdout } = await run('curl', args);
    const i = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) };
  };
  const state = async () => (await env.api('GET', '/api/v1/machines/node-1/progress')).json;
  const events = async (match: RegExp) => {
    await env.svc.lifecycle.idle();
    return (await env.svc.reads.events({ limit: 10000 })).filter((e) => match.test(e.message));
  };
  const reinstall = async () => {
    t.equal((await env.api('POST', '/api/v1/machines/node-1/reinstall?force=true')).status, 202);
    await env.svc.lifecycle.idle();
  };
  return { ...env, curl, state, events, reinstall };
}

const tokenIn = (script: string) => /token=([A-Za-z0-9_-]+)/.exec(script)?.[1];

t.test('DHCP off: the token goes to the first address that asks during the install, no other', async (t) => {
  const { curl, events, reinstall } = await setup(t);
  await reinstall();
  const first = await curl('127.0.0.1', `/ipxe?mac=${MAC}`);
  t.ok(tokenIn(first.body), 'the first address gets the install script with its token');
  const other = await curl('127.0.0.2', `/ipxe?mac=${MAC}`);
  t.equal(other.status, 200);
  t.notOk(tokenIn(other.body), 'another address asking with the same MAC gets no token');
  t.match(other.body, /local/, 'it gets the local-boot script');
  const withheld = await events(/install token withheld from 127\.0\.0\.2/);
  t.equal(withheld.length, 1, 'an event records it');
  t.equal(withheld[0].level, 'warn');
  t.ok(tokenIn((await curl('127.0.0.1', `/ipxe?mac=${MAC}`)).body), 'the bound address keeps getting it (iPXE retries)');
  await reinstall();
  t.ok(tokenIn((await curl('127.0.0.2', `/ipxe?mac=${MAC}`)).body), 'a new install binds anew');
});

t.test('the kickstart and every callback are bound to the address that fetched the kickstart first', async (t) => {
  const { curl, state, events, reinstall } = await setup(t);
  await reinstall();
  const token = tokenIn((await curl('127.0.0.1', `/ipxe?mac=${MAC}`)).body)!;
  t.equal((await curl('127.0.0.2', `/callback/start?token=${token}`, { post: '' })).status, 403, 'no callback before a kickstart was fetched');
  t.equal((await curl('127.0.0.1', `/kickstart?token=${token}`)).status, 200);
  const stolen = await curl('127.0.0.2', `/kickstart?token=${token}`);
  t.equal(stolen.status, 403, 'the token from another address fetches no kickstart (no password hashes)');
  t.notMatch(stolen.body, /kickstart for/);
  for (const ev of ['start', 'hostkeys', 'built', 'failed'])
    t.equal((await curl('127.0.0.2', `/callback/${ev}?token=${token}`, { post: ev === 'hostkeys' ? KEY_B : '' })).status, 403, `${ev} from another address`);
  t.equal((await state()).state, 'installing', 'nothing moved');
  t.equal((await events(/bound to another address/)).length, 5, 'each refusal is an event');
  t.equal((await curl('127.0.0.1', `/callback/built?token=${token}`, { post: '' })).status, 200, 'the installer itself goes on');
});

t.test('host keys are taken once per install, never after built; late callbacks are 410 and change nothing', async (t) => {
  const { curl, state, events, reinstall, svc } = await setup(t);
  await reinstall();
  const token = tokenIn((await curl('127.0.0.1', `/ipxe?mac=${MAC}`)).body)!;
  await curl('127.0.0.1', `/kickstart?token=${token}`);
  t.equal((await curl('127.0.0.1', `/callback/hostkeys?token=${token}`, { post: KEY_A })).status, 200);
  const again = await curl('127.0.0.1', `/callback/hostkeys?token=${token}`, { post: KEY_B });
  t.equal(again.status, 409, 'a second report is refused');
  t.same((await svc.reads.status('node-1'))!.hostKeys, [KEY_A], 'the pinned key stays the first');
  t.equal((await events(/host keys refused/)).length, 1);
  t.equal((await curl('127.0.0.1', `/callback/built?token=${token}`, { post: '' })).status, 200);
  await svc.lifecycle.idle();
  const after = (await state()).state;
  for (const ev of ['hostkeys', 'failed', 'built', 'start']) {
    const late = await curl('127.0.0.1', `/callback/${ev}?token=${token}`, { post: ev === 'hostkeys' ? KEY_B : 'late' });
    t.equal(late.status, 410, `${ev} after built is gone`);
  }
  t.equal((await curl('127.0.0.1', `/kickstart?token=${token}`)).status, 410, 'so is the kickstart');
  t.equal((await state()).state, after, 'no state change');
  t.same((await svc.reads.status('node-1'))!.hostKeys, [KEY_A]);
  t.equal((await events(/callback refused: the install of this token has ended/)).length, 4, 'each late callback is an event');
});

t.test('cancel and a missed deadline end the token as well', async (t) => {
  const { curl, state, api, reinstall, svc } = await setup(t);
  await reinstall();
  const token = tokenIn((await curl('127.0.0.1', `/ipxe?mac=${MAC}`)).body)!;
  await curl('127.0.0.1', `/kickstart?token=${token}`);
  t.equal((await api('POST', '/api/v1/machines/node-1/cancel')).status, 200);
  t.equal((await curl('127.0.0.1', `/callback/built?token=${token}`, { post: '' })).status, 410);
  t.equal((await state()).state, 'failed', 'a late built does not revive a cancelled install');
  t.equal(await svc.installs.installToken('node-1'), undefined);
});
