import t from 'tap';
import { canTransition, DEADLINE_HINTS, INSTALL_PATH, RESTING, TRANSITIONS } from '../../server/lifecycle/transitions.js';
import { STATES } from '../../server/model/status.js';
import { Config } from '../../server/config/schema.js';

t.test('the install path is a chain of allowed transitions', async (t) => {
  for (let i = 1; i < INSTALL_PATH.length; i++) t.ok(canTransition(INSTALL_PATH[i - 1], INSTALL_PATH[i]), `${INSTALL_PATH[i - 1]} → ${INSTALL_PATH[i]}`);
});

t.test('every active state can fail, has a deadline and a hint', async (t) => {
  const deadlines = Config.parse({}).deadlines as Record<string, number>;
  for (const s of STATES.filter((s) => !RESTING.includes(s))) {
    t.ok(canTransition(s, 'failed'), `${s} → failed`);
    t.ok(DEADLINE_HINTS[s], `${s} has a hint`);
    if (s !== 'reinstall-requested') t.ok(deadlines[s] > 0, `${s} has a deadline`);
  }
});

t.test('disallowed transitions are refused', async (t) => {
  t.notOk(canTransition('registered', 'installing'), 'no install without a reinstall');
  t.notOk(canTransition('installing', 'pxe-booting'), 'no going back');
  t.notOk(canTransition('ready', 'installed'));
  t.notOk(canTransition('failed', 'ready'), 'failed needs a reinstall or converge');
  for (const from of STATES) for (const to of TRANSITIONS[from]) t.ok(STATES.includes(to), `${from} → ${to} names a state`);
});
