/** What the server must refuse over the wire: escapes from the root, writes, unknown modes. */
import { readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { encodeRequest, ErrorCode } from '../../server/tftp/packet.js';
import { attempt, run, tempDir, withServer } from './fixture.js';
import { RawClient } from './raw-client.js';

const SECRET = 'kickstand-secret-outside-root';

t.test('traversal attempts get an ERROR, never a byte of the file', async (t) => {
  const base = await tempDir(t);
  const root = path.join(base, 'root');
  await run('mkdir', ['-p', path.join(root, 'sub')]);
  await writeFile(path.join(base, 'secret'), SECRET);
  await writeFile(path.join(root, 'sub', 'ok'), 'fine');
  await symlink(path.join(base, 'secret'), path.join(root, 'escape'));
  await symlink(base, path.join(root, 'updir'));
  const f = await withServer(t, { root });
  const client = await RawClient.open();
  t.teardown(() => client.close());
  const attempts = [
    '../secret',
    '/../secret',
    'sub/../../secret',
    '..\\secret',
    'sub\\..\\..\\secret',
    '%2e%2e/secret',
    '..%2fsecret',
    '%2e%2e%5csecret',
    'escape',
    'updir/secret',
    `/${base}/secret`.replace('//', '/'),
    'sub/ok%00',
  ];
  for (const name of attempts) {
    client.send(encodeRequest('rrq', name, 'octet'), f.server.port);
    const reply = await client.next(2000);
    t.equal(reply?.packet?.op, 'error', `${JSON.stringify(name)} → ERROR`);
    const code = reply?.packet?.op === 'error' ? reply.packet.code : -1;
    t.ok(code === ErrorCode.ACCESS_VIOLATION || code === ErrorCode.FILE_NOT_FOUND, `code ${code}`);
    t.notOk(reply?.bytes.includes(SECRET), 'no secret bytes');
  }
  // An embedded NUL ends the name early and leaves an unpaired option: malformed, dropped without reply.
  client.send(Buffer.from('\x00\x01sub/ok\x00../../secret\x00octet\x00', 'latin1'), f.server.port);
  t.equal(await client.next(300), undefined, 'NUL-split name: dropped');
  t.equal(f.server.stats().dropped, 1);
  // A real client: curl sends the path as given with --path-as-is.
  const curl = await attempt('curl', ['-sS', '--path-as-is', `tftp://127.0.0.1:${f.server.port}/../secret`]);
  t.not(curl.code, 0);
  t.notMatch(curl.stdout, SECRET);
  t.equal(f.server.stats().started, 0, 'no transfer ever started');
  t.equal(f.server.stats().refused, attempts.length + 1);
  t.ok(f.events.every((e) => e.level === 'warn' && /refused/.test(e.message)), 'each refusal is an event');
});

t.test('write requests are refused (access violation), nothing is written', async (t) => {
  const f = await withServer(t);
  const src = path.join(await tempDir(t), 'upload');
  await writeFile(src, 'payload');
  const put = await attempt('tftp', ['-m', 'binary', '127.0.0.1', String(f.server.port), '-c', 'put', src, 'upload']);
  t.match(`${put.stdout}${put.stderr}`, /Access violation/i, 'tftp-hpa reports the refusal');
  t.not((await attempt('atftp', ['-p', '-l', src, '-r', 'upload2', '127.0.0.1', String(f.server.port)])).code, 0, 'atftp put fails');
  t.same(await readdir(f.root), [], 'root unchanged');

  const client = await RawClient.open();
  t.teardown(() => client.close());
  client.send(encodeRequest('wrq', 'x', 'octet'), f.server.port);
  t.match((await client.next(2000))?.packet, { op: 'error', code: ErrorCode.ACCESS_VIOLATION });
});

t.test('unsupported mode and unknown file', async (t) => {
  const f = await withServer(t);
  await writeFile(path.join(f.root, 'file'), 'x');
  const client = await RawClient.open();
  t.teardown(() => client.close());
  client.send(encodeRequest('rrq', 'file', 'mail'), f.server.port);
  t.match((await client.next(2000))?.packet, { op: 'error', code: ErrorCode.ILLEGAL_OPERATION });
  client.send(encodeRequest('rrq', 'nope', 'octet'), f.server.port);
  t.match((await client.next(2000))?.packet, { op: 'error', code: ErrorCode.FILE_NOT_FOUND });
  t.equal((await attempt('curl', ['-sS', `tftp://127.0.0.1:${f.server.port}/nope`])).code, 68, 'curl: "TFTP: File Not Found"');
});
