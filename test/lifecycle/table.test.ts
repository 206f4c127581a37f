import t from 'tap';
import { canTransition, DEADLINE_HINTS, decide, type Decision, type Input, INSTALL_PATH, TRANSITIONS } from '../../server/lifecycle/table.js';
import { type MachineStatus, RESTING, type State, STATES } from '../../server/model/status.js';
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

// decide(): the whole lifecycle as a pure function, walked without I/O.

const status = (state: State, patch: Partial<MachineStatus> = {}): MachineStatus => ({
  machine: 'm1',
  state,
  netboot: RESTING.includes(state) || state === 'installed' || state === 'converging' ? 'local' : 'install',
  installId: 'i1',
  stateSince: 1000,
  deadline: RESTING.includes(state) ? undefined : 61_000,
  hostKeys: [],
  version: 5,
  ...patch,
});
const targets = (d: Decision) => (d.kind === 'move' ? d.moves.map((m) => m.to) : d.kind);
const effects = (d: Decision) => (d.kind === 'move' ? d.effects : []);

t.test('reinstall: from rest it starts, while running it is refused unless forced', async (t) => {
  for (const s of RESTING) {
    const d = decide(status(s), { kind: 'reinstall', force: false, now: 5 });
    t.same(targets(d), ['reinstall-requested'], s);
    t.same(effects(d), ['revoke-tokens', 'issue-token', 'power-cycle'], `${s}: old tokens go, a new one comes, the power cycle follows`);
    const patch = (d as Extract<Decision, { kind: 'move' }>).moves[0].patch!;
    t.equal(patch.netboot, 'install');
    t.equal(patch.startedAt, 5);
    t.same(patch.hostKeys, [], 'host keys of the last install are forgotten');
  }
  for (const s of STATES.filter((s) => !RESTING.includes(s))) {
    const refused = decide(status(s), { kind: 'reinstall', force: false, now: 5 });
    t.equal(refused.kind, 'refuse', `${s} refuses`);
    t.match((refused as { code: string }).code, 'busy');
    const forced = decide(status(s), { kind: 'reinstall', force: true, now: 5 });
    t.same(targets(forced), ['failed', 'reinstall-requested'], `${s} forced: fails the running install first`);
    t.match((forced as Extract<Decision, { kind: 'move' }>).moves[0].patch, { phase: s, reason: 'superseded by a forced reinstall', netboot: 'local' });
  }
});

t.test('power: only the install that asked moves on or fails', async (t) => {
  t.same(targets(decide(status('reinstall-requested'), { kind: 'power-started', installId: 'i1' })), ['power-cycling']);
  t.same(targets(decide(status('reinstall-requested'), { kind: 'power-started', installId: 'other' })), 'stay', 'a superseded install');
  t.same(targets(decide(status('pxe-booting'), { kind: 'power-started', installId: 'i1' })), 'stay', 'already past');
  const failed = decide(status('power-cycling'), { kind: 'power-failed', installId: 'i1', reason: 'redfish: 401' });
  t.same(targets(failed), ['failed']);
  t.match((failed as Extract<Decision, { kind: 'move' }>).moves[0].patch, { phase: 'power-cycling', reason: 'redfish: 401', hint: /BMC address, credentials/ });
  t.same(targets(decide(status('pxe-booting'), { kind: 'power-failed', installId: 'i1', reason: 'late' })), 'stay', 'the machine booted anyway');
  t.same(targets(decide(status('power-cycling'), { kind: 'power-failed', installId: 'other', reason: 'x' })), 'stay');
});

t.test('observed protocol events move an install forward only', async (t) => {
  const seen = (kind: string, level = 'info') => ({ kind: 'observed' as const, event: { kind, level, message: 'm' } as never });
  const table: [State, string, string, string | string[]][] = [
    ['power-cycling', 'dhcp', 'info', ['pxe-booting']],
    ['power-cycling', 'tftp', 'info', ['pxe-booting']],
    ['power-cycling', 'ipxe-script', 'info', ['pxe-booting']],
    ['power-cycling', 'asset', 'info', ['installer-booting']],
    ['power-cycling', 'kickstart', 'info', ['installing']],
    ['pxe-booting', 'ignition', 'info', ['installing']],
    ['pxe-booting', 'dhcp', 'info', 'stay'],
    ['installing', 'asset', 'info', 'stay'],
    ['installing', 'kickstart', 'info', 'stay'],
    ['pxe-booting', 'kickstart', 'error', 'stay'],
    ['pxe-booting', 'callback', 'info', 'stay'],
    ['reinstall-requested', 'dhcp', 'info', 'stay'],
  ];
  for (const [from, kind, level, want] of table) t.same(targets(decide(status(from), seen(kind, level))), want, `${from} + ${kind}/${level}`);
  t.same(targets(decide(status('power-cycling', { netboot: 'local' }), seen('dhcp'))), 'stay', 'not an install: nothing moves');
  const renderError = decide(status('pxe-booting'), seen('render', 'error'));
  t.same(targets(renderError), ['failed'], 'a render error fails a running install');
  t.match((renderError as Extract<Decision, { kind: 'move' }>).moves[0].patch, { phase: 'pxe-booting', hint: /fix the profile or machine/ });
  t.same(targets(decide(status('failed', { netboot: 'install' }), seen('render', 'error'))), 'stay');
});

t.test('installer callbacks', async (t) => {
  t.same(targets(decide(status('installer-booting'), { kind: 'callback', event: 'start' })), ['installing']);
  t.same(targets(decide(status('installing'), { kind: 'callback', event: 'start' })), 'stay');
  const built = decide(status('installing'), { kind: 'callback', event: 'built' });
  t.same(targets(built), ['installed']);
  t.same(effects(built), ['revoke-tokens', 'converge'], 'built ends the token and starts the converge');
  t.equal((built as Extract<Decision, { kind: 'move' }>).moves[0].patch!.netboot, 'local', 'built stops network installs');
  t.same(targets(decide(status('installer-booting'), { kind: 'callback', event: 'built' })), ['installed'], 'a built without a start');
  t.same(targets(decide(status('installed'), { kind: 'callback', event: 'built' })), 'stay', 'a repeated built');
  t.same(targets(decide(status('pxe-booting'), { kind: 'callback', event: 'built' })), 'stay', 'pxe-booting → installed is not in the table');
  t.same(targets(decide(status('installing'), { kind: 'callback', event: 'failed' })), ['failed']);
  t.same(targets(decide(status('ready'), { kind: 'callback', event: 'failed' })), 'stay', 'a late failure after rest');
  t.same(effects(decide(status('installing'), { kind: 'callback', event: 'failed' })), ['revoke-tokens']);
  const misfit = decide(status('installing'), { kind: 'misfit', installId: 'i1', reason: 'disks.sys0: /dev/disk/by-id/x not on this machine' });
  t.same(targets(misfit), ['failed'], 'a misfit found by the install report fails the install');
  t.same(effects(misfit), ['revoke-tokens']);
  t.match((misfit as Extract<Decision, { kind: 'move' }>).moves[0].patch, { phase: 'installing', reason: /disks\.sys0/, hint: /does not fit/ });
  t.same(targets(decide(status('installing'), { kind: 'misfit', installId: 'other', reason: 'x' })), 'stay', 'a report of another install');
  t.same(targets(decide(status('ready'), { kind: 'misfit', installId: 'i1', reason: 'x' })), 'stay', 'nothing to stop at rest');
});

t.test('cancel and deadlines', async (t) => {
  const cancel = decide(status('installing'), { kind: 'cancel' });
  t.same(targets(cancel), ['failed']);
  t.same(effects(cancel), ['revoke-tokens'], 'the token dies with the install');
  t.same(targets(decide(status('ready'), { kind: 'cancel' })), 'refuse');
  t.same(targets(decide(status('installing'), { kind: 'deadline', now: 60_999 })), 'stay', 'before the deadline');
  const late = decide(status('installing'), { kind: 'deadline', now: 61_000 });
  t.same(targets(late), ['failed']);
  t.match((late as Extract<Decision, { kind: 'move' }>).moves[0].patch, { phase: 'installing', reason: 'deadline of 60 s for installing passed', hint: DEADLINE_HINTS.installing });
  t.same(effects(late), ['revoke-tokens'], 'a missed deadline ends the token too');
  t.same(targets(decide(status('ready'), { kind: 'deadline', now: 1e15 })), 'stay', 'resting states have none');
});

t.test('converge: after an install, by the operator, and its result by version', async (t) => {
  t.same(targets(decide(status('installed'), { kind: 'install-converge', installId: 'i1', converger: true })), ['converging']);
  t.same(targets(decide(status('installed'), { kind: 'install-converge', installId: 'i1', converger: false })), ['ready'], 'no converger: ready at once');
  t.same(targets(decide(status('installed'), { kind: 'install-converge', installId: 'old', converger: true })), 'stay');
  t.same(targets(decide(status('ready'), { kind: 'operator-converge' })), ['converging']);
  t.same(targets(decide(status('failed'), { kind: 'operator-converge' })), ['converging']);
  t.same(targets(decide(status('installing'), { kind: 'operator-converge' })), 'refuse');
  t.same(targets(decide(status('converging'), { kind: 'converge-done', version: 5, ok: true })), ['ready']);
  const failed = decide(status('converging'), { kind: 'converge-done', version: 5, ok: false, reason: 'step x failed' });
  t.match((failed as Extract<Decision, { kind: 'move' }>).moves[0].patch, { phase: 'converging', reason: 'step x failed' });
  t.same(targets(decide(status('converging'), { kind: 'converge-done', version: 4, ok: true })), 'stay', 'a converge that was superseded');
});

t.test('every move to failed revokes the install token', async (t) => {
  const inputs: Input[] = [
    { kind: 'power-failed', installId: 'i1', reason: 'r' },
    { kind: 'observed', event: { kind: 'render', level: 'error', message: 'm' } },
    { kind: 'callback', event: 'failed' },
    { kind: 'cancel' },
    { kind: 'deadline', now: 1e15 },
    { kind: 'converge-done', version: 5, ok: false, reason: 'r' },
    { kind: 'reinstall', force: true, now: 1 },
  ];
  for (const from of STATES)
    for (const input of inputs) {
      const d = decide(status(from), input);
      if (d.kind === 'move' && d.moves.some((m) => m.to === 'failed')) t.ok(d.effects.includes('revoke-tokens'), `${from} + ${input.kind}`);
    }
});

t.test('every move decide can return is in the transition table', async (t) => {
  const inputs: Input[] = [
    { kind: 'reinstall', force: true, now: 1 },
    { kind: 'power-started', installId: 'i1' },
    { kind: 'power-failed', installId: 'i1', reason: 'r' },
    ...(['dhcp', 'asset', 'kickstart', 'render'] as const).map((kind) => ({ kind: 'observed' as const, event: { kind, level: kind === 'render' ? ('error' as const) : ('info' as const), message: 'm' } })),
    ...(['start', 'built', 'failed'] as const).map((event) => ({ kind: 'callback' as const, event })),
    { kind: 'cancel' },
    { kind: 'deadline', now: 1e15 },
    { kind: 'install-converge', installId: 'i1', converger: true },
    { kind: 'operator-converge' },
    { kind: 'converge-done', version: 5, ok: false, reason: 'r' },
  ];
  for (const from of STATES)
    for (const netboot of ['install', 'local'] as const)
      for (const input of inputs) {
        const d = decide(status(from, { netboot }), input);
        if (d.kind !== 'move') continue;
        let at = from;
        for (const m of d.moves) {
          t.ok(canTransition(at, m.to), `${from} (${netboot}) + ${input.kind}: ${at} → ${m.to}`);
          at = m.to;
        }
      }
});
