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
const APPLETS = ['sh', 'wget', 'nc', 'timeout', 'grep', 'sed', 'cat', 'rm', 'sleep', 'wc', 'tail'];

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

t.test('curl shim over busybox wget and nc', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ks-curl-shim-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const applet of APPLETS) await symlink('/bin/busybox', join(dir, applet));

  const seen: Seen[] = [];
  let flaky = 0;
  let flakyPoll = 0;
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      if (req.url === '/missing') return res.writeHead(404).end('no\n');
      if (req.url === '/flaky' && flaky++ < 2) return res.writeHead(503).end('busy\n');
      if (req.url === '/flaky-poll' && flakyPoll++ < 1) return res.writeHead(503).end('busy\n');
      if (req.url === '/down') return res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"down"}');
      if (req.url === '/inventory') return res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"bad report"}\n');
      if (req.url === '/created') return res.writeHead(201, { 'content-type': 'application/json' }).end('{"id":"d-1"}\n');
      if (req.url === '/nothing') return res.writeHead(204).end();
      if (req.url === '/binary') return res.writeHead(200).end(Buffer.concat([binary, Buffer.from('\r\n\r\n'), binary]));
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

  t.test('a refused connection: retried only with --retry-connrefused, every --retry-delay seconds', async (t) => {
    // A port that refuses now and answers 2 s later, as kickstand's address does during a failover.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    let started = Date.now();
    let r = await curl('-fsS', '--retry', '3', '--retry-delay', '1', `http://127.0.0.1:${port}/cb/built`);
    t.equal(r.code, 7, 'without --retry-connrefused: exit 7 at once, as curl');
    t.ok(Date.now() - started < 900, `not retried (${Date.now() - started} ms)`);
    for (const viaNc of [false, true]) {
      const late = createServer((req, res) => req.resume().on('end', () => res.writeHead(200).end('late\n')));
      const opening = setTimeout(() => late.listen(port, '127.0.0.1'), 2_000);
      started = Date.now();
      const wOpts = viaNc ? ['-w', '%{http_code}', '-o', join(dir, 'late')] : [];
      r = await curl('-fsS', '--retry', '10', '--retry-connrefused', '--retry-delay', '1', ...wOpts, '-X', 'POST', '--data-binary', 'x', `http://127.0.0.1:${port}/cb/built`);
      clearTimeout(opening);
      await new Promise<void>((res) => late.close(() => res()));
      t.equal(r.code, 0, `${viaNc ? 'nc' : 'wget'}: answered once the port opened (${Date.now() - started} ms): ${r.stderr}`);
      t.ok(Date.now() - started >= 1_900 && Date.now() - started < 6_000, 'after about 2 s of 1 s retries');
    }
  });

  t.test('unsupported flags are refused, not ignored', async (t) => {
    for (const args of [['-k', `${base}/x`], ['-X', 'PUT', `${base}/x`], ['--upload-file', 'f', `${base}/x`]]) {
      const r = await curl(...args);
      t.equal(r.code, 2, args.join(' '));
      t.match(r.stderr, /unsupported argument/);
    }
  });

  // The inventory agent's exact calls: no -f, the status from -w '%{http_code}', the body in -o.
  const agentPost = (resp: string, file: string, path: string) =>
    curl('-sS', '--retry', '3', '-o', resp, '-w', '%{http_code}', '-X', 'POST', '-H', 'Content-Type: application/json', '--data-binary', `@${file}`, `${base}${path}`);

  t.test("agent POST: -o, -w '%{http_code}', -H, --data-binary @FILE", async (t) => {
    const file = join(dir, 'report.json');
    const resp = join(dir, 'resp1');
    const report = JSON.stringify({ system: { serial: 'S 1' }, note: 'ünïcode\ttab' }) + '\n';
    await writeFile(file, report);
    const r = await agentPost(resp, file, '/created');
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, '201', 'only the status code on stdout');
    t.equal(await readFile(resp, 'utf8'), '{"id":"d-1"}\n', 'body in the -o file');
    const last = seen.at(-1)!;
    t.equal(last.method, 'POST');
    t.equal(last.url, '/created');
    t.equal(last.headers['content-type'], 'application/json', 'the -H content type, not curl\'s default');
    t.equal(last.headers['content-length'], String(Buffer.byteLength(report)));
    t.equal(last.body.toString(), report, 'body byte for byte');
  });

  t.test('without -f a 4xx is a transfer: body in -o, code printed, exit 0, no retry', async (t) => {
    const file = join(dir, 'report.json');
    const resp = join(dir, 'resp2');
    const before = seen.length;
    const r = await agentPost(resp, file, '/inventory');
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, '400');
    t.equal(await readFile(resp, 'utf8'), '{"error":"bad report"}\n');
    t.equal(seen.length - before, 1, '400 is not transient');
  });

  t.test('without -f a 5xx is retried, and the last answer kept', async (t) => {
    const resp = join(dir, 'resp3');
    let before = seen.length;
    let r = await curl('-sS', '--retry', '3', '-o', resp, '-w', '%{http_code}', `${base}/flaky-poll`);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, '200', '503 then 200');
    t.equal(seen.length - before, 2);
    before = seen.length;
    r = await curl('-sS', '--retry', '1', '-o', resp, '-w', '%{http_code}\\n', `${base}/down`);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, '503\n', 'still 503 after the retry; \\n in -w is a newline');
    t.equal(seen.length - before, 2);
    t.equal(await readFile(resp, 'utf8'), '{"error":"down"}');
  });

  t.test('agent poll: GET, 204 leaves an empty file', async (t) => {
    const resp = join(dir, 'resp4');
    await writeFile(resp, 'stale');
    const r = await curl('-sS', '-o', resp, '-w', '%{http_code}', `${base}/nothing`);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, '204');
    t.equal(await readFile(resp, 'utf8'), '');
    t.equal(seen.at(-1)!.method, 'GET');
  });

  t.test('binary bodies both ways, body to stdout without -o', async (t) => {
    const file = join(dir, 'bin');
    await writeFile(file, binary);
    const resp = join(dir, 'resp5');
    let r = await curl('-sS', '-o', resp, '-X', 'POST', '--data-binary', `@${file}`, `${base}/binary`);
    t.equal(r.code, 0, r.stderr);
    t.same(seen.at(-1)!.body, binary, 'request body byte for byte');
    t.equal(seen.at(-1)!.headers['content-type'], 'application/x-www-form-urlencoded', "curl's default content type");
    t.same(await readFile(resp), Buffer.concat([binary, Buffer.from('\r\n\r\n'), binary]), 'response body byte for byte');
    r = await curl('-s', '-w', '%{http_code}', `${base}/created`);
    t.equal(r.stdout, '{"id":"d-1"}\n201', 'body, then the -w text');
  });

  t.test('-f with -w: 22 and the code', async (t) => {
    const r = await curl('-fsS', '-w', '%{http_code}', '-o', join(dir, 'resp6'), `${base}/missing`);
    t.equal(r.code, 22);
    t.equal(r.stdout, '404');
  });

  t.test('unreachable with -w: 7 and 000', async (t) => {
    const r = await curl('-sS', '-w', '%{http_code}', '-o', join(dir, 'resp7'), 'http://127.0.0.1:1/x');
    t.equal(r.code, 7);
    t.equal(r.stdout, '000');
  });

  t.test('other -w variables are refused', async (t) => {
    const r = await curl('-s', '-w', '%{time_total}', `${base}/x`);
    t.equal(r.code, 2);
    t.match(r.stderr, /unsupported argument/);
  });
});
