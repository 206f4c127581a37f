import t from 'tap';
import { lazyRequestLogger } from '../../server/http/lazy-request-logger.js';
import { createLogger } from '../../server/log.js';
import { minimalProfile } from '../helpers/fixtures.js';
import { logCapture, startTestService } from '../helpers/service.js';

function logger(level: string) {
  const logs = logCapture();
  const log = createLogger({ level, destination: logs.destination });
  let children = 0;
  const child = log.child.bind(log);
  log.child = ((...args: Parameters<typeof child>) => (children++, child(...args))) as typeof log.child;
  const lines = () => logs.lines.map((l) => JSON.parse(l)).map(({ time, ...rest }) => rest);
  return { log, lines, children: () => children };
}

t.test('nothing is made for lines below the level; logged lines are those of the child', async (t) => {
  const { log, lines, children } = logger('warn');
  const lazy = lazyRequestLogger(log, { reqId: 'req-7' }, {});
  lazy.info('incoming request');
  lazy.debug('x');
  lazy.trace('y');
  t.equal(children(), 0, 'no child for disabled levels');
  t.same(lines(), []);
  lazy.warn({ token: 'secret-token' }, 'refused');
  lazy.error('failed');
  t.equal(children(), 1, 'one child, made at the first enabled line');
  lazy.child({ step: 'a' }).fatal('nested');

  const expected = logger('warn');
  const real = expected.log.child({ reqId: 'req-7' });
  real.warn({ token: 'secret-token' }, 'refused');
  real.error('failed');
  real.child({ step: 'a' }).fatal('nested');
  t.same(lines(), expected.lines(), 'the same lines, bindings and redaction as a child made up front');
  t.notMatch(JSON.stringify(lines()), /secret-token/);
  t.equal(lines()[0].reqId, 'req-7');

  log.level = 'info';
  lazy.info('after a level change');
  lazy.debug('still below');
  t.match(lines().slice(3), [{ reqId: 'req-7', msg: 'after a level change', level: 30 }], 'the level is read at each call');
  t.equal(lines().length, 4);
});

t.test('a route level or serializers: the child is made as fastify would', async (t) => {
  const { log, lines, children } = logger('warn');
  const lazy = lazyRequestLogger(log, { reqId: 'req-8' }, { level: 'debug' });
  t.equal(children(), 1);
  lazy.debug('shown at the route level');
  t.match(lines(), [{ reqId: 'req-8', msg: 'shown at the route level', level: 20 }]);
  const silent = logger('silent');
  lazyRequestLogger(silent.log, { reqId: 'req-9' }, {}).fatal('x');
  t.same(silent.lines(), []);
  t.equal(silent.children(), 0);
});

t.test('boot requests at debug: request lines carry the reqId, never the token', async (t) => {
  const { api, base, svc, logs } = await startTestService(t);
  await api('POST', '/api/v1/profiles', minimalProfile('p1'));
  await api('POST', '/api/v1/machines', { name: 'node-1', profile: 'p1', macs: ['52:54:00:aa:dd:01'], bmc: { driver: 'manual' } });
  await api('POST', '/api/v1/machines/node-1/reinstall');
  await svc.lifecycle.idle();
  const token = (await svc.installs.installToken('node-1'))!.token;
  t.equal((await fetch(`${base}/boot/kickstart?token=${token}`)).status, 200);
  const lines = logs.lines.map((l) => JSON.parse(l));
  const incoming = lines.find((l) => l.msg === 'incoming request' && l.req?.url?.startsWith('/boot/kickstart'));
  t.ok(incoming, 'the incoming line is logged');
  t.equal(incoming.req.url, '/boot/kickstart?token=[Redacted]');
  t.match(incoming.reqId, /^req-/);
  t.ok(lines.some((l) => l.msg === 'request completed' && l.reqId === incoming.reqId && l.res?.statusCode === 200), 'completed, same reqId');
  t.notOk(logs.lines.some((l) => l.includes(token)), 'the token is in no line');
});
