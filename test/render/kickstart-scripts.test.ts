import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { RenderEnv } from '../../server/render/env.js';
import { renderKickstart } from '../../server/render/kickstart.js';
import { config as renderConfig, ctxFor, examples } from './helpers.js';

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
  let misfit = false;
  const agent = readFileSync('templates/discovery/agent.sh');
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url!, 'http://x');
      calls.push({ path: url.pathname, query: Object.fromEntries(url.searchParams), type: req.headers['content-type'], body: Buffer.concat(chunks).toString() });
      if (url.pathname === '/boot/discovery/agent') return res.end(agent);
      if (url.pathname === '/boot/inventory' && misfit) {
        res.statusCode = 409;
        return res.end('disks.sys0: /dev/disk/by-id/virtio-sys0 not on this machine; it has no by-id links');
      }
      res.statusCode = refuseBuilt && url.pathname.endsWith('/built') ? 500 : 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const util = (await examples()).find((e) => e.machine.name === 'util-01')!;
  // no LLDP wait: the sandbox has no switch to listen to
  const config = { ...renderConfig, discovery: { ...renderConfig.discovery, lldpWaitSeconds: 0 } };
  const ks = renderKickstart(ctxFor(util.machine, util.profile, { token: 'tokScript_1', urls: { base }, config }), new RenderEnv());
  const parts = sections(ks);
  t.same(parts.map((p) => p.head.split(' ')[0]), ['%pre', '%pre', '%post', '%post', '%post', '%onerror']);

  for (const part of parts) t.equal(await runSandboxed(part.body), 0, `${part.head} exits 0`);
  const report = calls.find((c) => c.path === '/boot/inventory')!;
  t.equal(report.type, 'application/json', 'the install %pre reports the hardware as JSON');
  t.ok(Array.isArray(JSON.parse(report.body).disks ?? []), 'an inventory report');
  const textCalls = calls.filter((c) => c.path.startsWith('/boot/callback/'));
  t.same(
    calls.map((c) => [c.path, c.query]),
    [
      ['/boot/callback/start', { token: 'tokScript_1' }],
      ['/boot/discovery/agent', {}],
      ['/boot/inventory', { token: 'tokScript_1' }],
      ['/boot/callback/progress', { token: 'tokScript_1', step: 'post' }],
      ['/boot/callback/hostkeys', { token: 'tokScript_1' }],
      ['/boot/callback/built', { token: 'tokScript_1' }],
      ['/boot/callback/failed', { token: 'tokScript_1' }],
    ],
  );
  t.ok(textCalls.every((c) => c.type === 'text/plain'), 'callback bodies are text/plain');
  t.match(textCalls[0].body, /^installer started on /);
  const keys = textCalls[2].body.trim().split('\n');
  t.ok(keys.length >= 3 && keys.every((k) => /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256) AAAA/.test(k)), 'host keys generated where absent, one per line');
  t.equal(textCalls[3].body, 'installed util-01\n');
  t.match(textCalls[4].body, /anaconda\.log/, 'the failed body is the log tail');

  misfit = true;
  const inventory = parts[1];
  t.match(inventory.head, '--erroronfail');
  t.not(await runSandboxed(inventory.body), 0, 'a report refused as a misfit fails the %pre --erroronfail, before anything is partitioned');

  refuseBuilt = true;
  const built = parts.filter((p) => p.head.startsWith('%post')).at(-1)!;
  t.match(built.head, '--erroronfail');
  t.not(await runSandboxed(built.body), 0, 'a refused built callback fails the %post --erroronfail, so %onerror runs');
});
