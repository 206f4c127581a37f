/**
 * DHCP subnet ownership (server/store/subnet-locks.ts) against a real PostgreSQL 15 that this
 * file starts: one instance answers a subnet; a second one without dhcp.standby refuses, naming
 * the holder; a standby waits, and answers within about a second of the holder's kill -9;
 * instances on different subnets both answer.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { openPostgresStore } from '../../server/store/postgres.js';
import { SubnetTaken } from '../../server/store/subnet-locks.js';
import { postgresForTest } from '../helpers/postgres.js';

const pg = await postgresForTest(t);
if (pg) {
  const openAs = async (t: Test, url: string, instance: string) => {
    const store = await openPostgresStore(url, { instance });
    t.teardown(() => store.close());
    return store;
  };
  /** A child process (instance-child.ts) holding `instance` and `subnets`, ready when this resolves. */
  const holder = async (t: Test, url: string, instance: string, subnets: string[]) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'instance-child.ts'), url, instance, ...subnets], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.teardown(() => void p.kill('SIGKILL'));
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      p.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      p.once('exit', (code, signal) => reject(new Error(`the child ended (${code ?? signal}) before a line: ${out}`)));
    });
    t.equal(line, 'ready', `${instance} holds ${subnets.join(', ')}`);
    return { kill: async () => (p.kill('SIGKILL'), await exited) };
  };

  t.test('one holder per subnet; a standby takes over within a second of the kill -9', async (t) => {
    const url = await pg.createDatabase(t);
    const a = await holder(t, url, 'rack-a', ['10.9.0.0/24']);
    const b = await openAs(t, url, 'rack-b');

    const started = Date.now();
    const err = await b.claimSubnets!(['10.9.0.0/24'], { standby: false }).then(
      () => undefined,
      (e: Error) => e,
    );
    t.ok(err instanceof SubnetTaken, `without standby: refused (${err?.message})`);
    t.match(err?.message, /^DHCP subnet 10\.9\.0\.0\/24 is answered by another kickstand instance \(.*"kickstand rack-a dhcp".*\): set dhcp\.standby: true/, 'naming the subnet, the holder and the way out');
    t.ok(Date.now() - started < 3_000, 'after the grace second');

    const changes: Array<[string, boolean, number]> = [];
    const claims = await b.claimSubnets!(['10.9.0.0/24', '10.9.1.0/24'], { standby: true });
    t.teardown(() => claims.release());
    claims.onChange((subnet, answering) => changes.push([subnet, answering, Date.now()]));
    t.same(claims.roles(), { answering: ['10.9.1.0/24'], standby: ['10.9.0.0/24'] }, 'a free subnet is answered at once; the held one is waited for');
    t.equal(claims.answers('10.9.0.0/24'), false);
    t.equal(claims.answers('10.9.1.0/24'), true);
    t.equal(claims.answers('192.168.0.0/24'), false, 'a subnet never claimed is not answered');

    await a.kill();
    const killed = Date.now();
    while (!claims.answers('10.9.0.0/24') && Date.now() - killed < 5_000) await new Promise((r) => setTimeout(r, 20));
    const took = Date.now() - killed;
    t.ok(claims.answers('10.9.0.0/24'), `the standby answers after the holder's kill -9 (${took} ms)`);
    t.ok(took < 2_000, 'within about a second (it tries every second)');
    t.same(changes.map(([s, on]) => [s, on]), [['10.9.0.0/24', true]], 'told once, of the subnet taken');
    t.same(claims.roles(), { answering: ['10.9.0.0/24', '10.9.1.0/24'], standby: [] });

    // Now rack-b holds both: a third instance without standby refuses, with it waits.
    const c = await openAs(t, url, 'rack-c');
    t.ok((await c.claimSubnets!(['10.9.1.0/24'], { standby: false }).catch((e) => e)) instanceof SubnetTaken, 'the new holder is a holder like any');
    const waiting = await c.claimSubnets!(['10.9.1.0/24'], { standby: true });
    t.teardown(() => waiting.release());
    t.same(waiting.roles(), { answering: [], standby: ['10.9.1.0/24'] });
    await claims.release();
    const released = Date.now();
    while (!waiting.answers('10.9.1.0/24') && Date.now() - released < 5_000) await new Promise((r) => setTimeout(r, 20));
    t.ok(waiting.answers('10.9.1.0/24'), 'a released subnet goes to the standby');
  });
}
