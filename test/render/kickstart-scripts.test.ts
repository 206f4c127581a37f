import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { RenderEnv } from '../../server/render/env.js';
import { renderKickstart } from '../../server/render/kickstart.js';
import { ctxFor, examples } from './helpers.js';

/**
 * The kickstart's %pre/%post/%onerror scripts run for real: busybox sh, real curl, real
 * ssh-keygen, posting to a loopback server. Each runs in its own mount namespace with empty
 * tmpfs over /tmp and /etc/ssh, so the host's files are neither read nor written.
 */
interface Call {
  path: string;
  query: Record<string, string>;
  type?: string;
  body: string;
}

const root = process.getuid?.() === 0;

function sections(ks: string): Array<{ head: string; body: string }> {
  return [...ks.matchAll(/^%(pre|post|onerror)([^\n]*)\n([\s\S]*?)^%end$/gm)].map((m) => ({ head: `%${m[1]}${m[2]}`, body: m[3] }));
}

function runSandboxed(script: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'unshare',
      ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /etc/ssh && exec busybox sh -s'],
      { stdio: ['pipe', 'ignore', 'ignore'] },
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code ?? -1);
    });
    child.stdin.end(script);
  });
}

t.test('callbacks reach kickstand with token, step and body; built fails the script when refused', { skip: !root && 'needs root for mount namespaces' }, async (t) => {
  const calls: Call[] = [];
  let refuseBuilt = false;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url!, 'http://x');
      calls.push({ path: url.pathname, query: Object.fromEntries(url.searchParams), type: req.headers['content-type'], body: Buffer.concat(chunks).toString() });
      res.statusCode = refuseBuilt && url.pathname.endsWith('/built') ? 500 : 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const util = (await examples()).find((e) => e.machine.name === 'util-01')!;
  const ks = renderKickstart(ctxFor(util.machine, util.profile, { token: 'tokScript_1', urls: { base } }), new RenderEnv());
  const parts = sections(ks);
  t.same(parts.map((p) => p.head.split(' ')[0]), ['%pre', '%post', '%post', '%post', '%onerror']);

  for (const part of parts) t.equal(await runSandboxed(part.body), 0, `${part.head} exits 0`);
  t.same(
    calls.map((c) => [c.path, c.query]),
    [
      ['/boot/callback/start', { token: 'tokScript_1' }],
      ['/boot/callback/progress', { token: 'tokScript_1', step: 'post' }],
      ['/boot/callback/hostkeys', { token: 'tokScript_1' }],
      ['/boot/callback/built', { token: 'tokScript_1' }],
      ['/boot/callback/failed', { token: 'tokScript_1' }],
    ],
  );
  t.ok(calls.every((c) => c.type === 'text/plain'), 'bodies are text/plain');
  t.match(calls[0].body, /^installer started on /);
  const keys = calls[2].body.trim().split('\n');
  t.ok(keys.length >= 3 && keys.every((k) => /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256) AAAA/.test(k)), 'host keys generated where absent, one per line');
  t.equal(calls[3].body, 'installed util-01\n');
  t.match(calls[4].body, /anaconda\.log/, 'the failed body is the log tail');

  refuseBuilt = true;
  const built = parts.filter((p) => p.head.startsWith('%post')).at(-1)!;
  t.match(built.head, '--erroronfail');
  t.not(await runSandboxed(built.body), 0, 'a refused built callback fails the %post --erroronfail, so %onerror runs');
});
