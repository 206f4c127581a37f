/**
 * The guest's curl shim (test/e2e/guest/curl) run by busybox, as in the guest, against a local
 * HTTP server: kickstart sections call back through it, so its flags, bodies and exit codes must
 * match what curl would do.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const SHIM = fileURLToPath(new URL('./guest/curl', import.meta.url));
const APPLETS = ['sh', 'wget', 'timeout', 'grep', 'cat', 'rm', 'sleep'];

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

t.test('curl shim over busybox wget', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ks-curl-shim-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const applet of APPLETS) await symlink('/bin/busybox', join(dir, applet));

  const seen: Seen[] = [];
  let flaky = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      if (req.url === '/missing') return res.writeHead(404).end('no\n');
      if (req.url === '/flaky' && flaky++ < 2) return res.writeHead(503).end('busy\n');
      res.writeHead(200).end(`answer to ${req.method}\n`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  const curl = (...args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('/bin/busybox', ['sh', SHIM, ...args], { env: { PATH: dir }, cwd: dir });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });

  t.test('POST a file byte for byte', async (t) => {
    const file = join(dir, 'key.pub');
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample host\nsecond line\n';
    await writeFile(file, key);
    const r = await curl('-fsS', '--retry', '3', '-X', 'POST', '--data-binary', `@${file}`, `${base}/cb/hostkeys?token=t1&step=x`);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, 'answer to POST\n', 'response body on stdout, as curl prints it');
    const last = seen.at(-1)!;
    t.equal(last.method, 'POST');
    t.equal(last.url, '/cb/hostkeys?token=t1&step=x', 'query string kept');
    t.equal(last.body.toString(), key);
  });

  t.test('POST literal text, with a header', async (t) => {
    const r = await curl('-sSf', '-H', 'X-Install: 42', '--data-binary', 'kickstart %pre on 6.1', `${base}/cb/start`);
    t.equal(r.code, 0, r.stderr);
    t.equal(seen.at(-1)!.method, 'POST', '--data-binary alone implies POST');
    t.equal(seen.at(-1)!.body.toString(), 'kickstart %pre on 6.1');
    t.equal(seen.at(-1)!.headers['x-install'], '42');
  });

  t.test('GET to a file', async (t) => {
    const out = join(dir, 'ks.cfg');
    const r = await curl('-fsS', '--retry', '3', '-o', out, `${base}/ks`);
    t.equal(r.code, 0, r.stderr);
    t.equal(await readFile(out, 'utf8'), 'answer to GET\n');
  });

  t.test('HTTP 404 fails with 22 and is not retried', async (t) => {
    const before = seen.length;
    const r = await curl('-fsS', '--retry', '3', `${base}/missing`);
    t.equal(r.code, 22);
    t.equal(seen.length - before, 1);
  });

  t.test('HTTP 503 is retried until it succeeds', async (t) => {
    const before = seen.length;
    const r = await curl('-fsS', '--retry', '3', '-X', 'POST', '--data-binary', 'x', `${base}/flaky`);
    t.equal(r.code, 0, r.stderr);
    t.equal(seen.length - before, 3, 'two 503 then 200');
  });

  t.test('unreachable server fails with 7', async (t) => {
    const r = await curl('-fsS', 'http://127.0.0.1:1/x');
    t.equal(r.code, 7);
  });

  t.test('unsupported flags are refused, not ignored', async (t) => {
    for (const args of [['-k', `${base}/x`], ['-X', 'PUT', `${base}/x`], ['--upload-file', 'f', `${base}/x`]]) {
      const r = await curl(...args);
      t.equal(r.code, 2, args.join(' '));
      t.match(r.stderr, /unsupported argument/);
    }
  });
});
