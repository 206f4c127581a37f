import t from 'tap';
import { operatorError, PowerError } from '../../server/power/errors.js';
import { chooseReset, pickSystem, powerState, pxeOnceBody, redfishMessage, resetAction, serviceLinks } from '../../server/power/redfish-protocol.js';

const members = (...ids: string[]) => ({ Members: ids.map((id) => ({ '@odata.id': id })) });

t.test('service links fall back to the DMTF defaults', async (t) => {
  t.same(serviceLinks({}), { systems: '/redfish/v1/Systems', sessions: '/redfish/v1/SessionService/Sessions' });
  t.same(serviceLinks({ Systems: { '@odata.id': '/rf/Sys' }, Links: { Sessions: { '@odata.id': '/rf/S' } } }), { systems: '/rf/Sys', sessions: '/rf/S' });
});

t.test('pickSystem: the only system, or the one systemId names', async (t) => {
  t.equal(pickSystem(members('/redfish/v1/Systems/1'), undefined), '/redfish/v1/Systems/1');
  t.equal(pickSystem(members('/redfish/v1/Systems/a', '/redfish/v1/Systems/b/'), 'b'), '/redfish/v1/Systems/b/');
  t.equal(pickSystem(members('/redfish/v1/Systems/a', '/redfish/v1/Systems/b'), '/redfish/v1/Systems/a'), '/redfish/v1/Systems/a');
  t.throws(() => pickSystem(members('/s/a', '/s/b'), undefined), { kind: 'config', message: /2 systems \(\/s\/a, \/s\/b\): set bmc\.systemId/ });
  t.throws(() => pickSystem(members(), undefined), { kind: 'unexpected', message: /lists no computer system/ });
  t.throws(() => pickSystem({}, undefined), { kind: 'unexpected', message: /no Members/ });
});

t.test('powerState counts transitions as where they go', async (t) => {
  t.equal(powerState({ PowerState: 'PoweringOn' }), 'on');
  t.equal(powerState({ PowerState: 'PoweringOff' }), 'off');
  t.throws(() => powerState({}), { kind: 'unexpected', message: /PowerState undefined/ });
});

t.test('reset: the action target and the preferred allowed type', async (t) => {
  t.same(resetAction({}, '/redfish/v1/Systems/1/'), { target: '/redfish/v1/Systems/1/Actions/ComputerSystem.Reset', allowed: undefined });
  const sys = { Actions: { '#ComputerSystem.Reset': { target: '/x/reset', 'ResetType@Redfish.AllowableValues': ['On', 'GracefulRestart'] } } };
  t.same(resetAction(sys, '/s'), { target: '/x/reset', allowed: ['On', 'GracefulRestart'] });
  t.equal(chooseReset('restart', undefined), 'ForceRestart');
  t.equal(chooseReset('restart', ['On', 'GracefulRestart']), 'GracefulRestart');
  t.equal(chooseReset('on', ['ForceOn', 'ForceOff']), 'ForceOn');
  t.throws(() => chooseReset('off', ['On']), { kind: 'unsupported', message: /allows ResetType On but none of ForceOff, PushPowerButton/ });
});

t.test('PXE-once body: mode only where the BMC knows it; refusals name what the BMC offers', async (t) => {
  t.same(pxeOnceBody({ Boot: { BootSourceOverrideMode: 'UEFI' } }, 'bios'), {
    Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'Legacy' },
  });
  t.same(pxeOnceBody({ Boot: { BootSourceOverrideTarget: 'None' } }, 'uefi'), { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } });
  t.throws(() => pxeOnceBody({ Boot: { 'BootSourceOverrideTarget@Redfish.AllowableValues': ['Hdd', 'Cd'] } }, 'uefi'), { kind: 'unsupported', message: /offers Hdd, Cd/ });
  t.throws(() => pxeOnceBody({ Boot: { 'BootSourceOverrideMode@Redfish.AllowableValues': ['UEFI'] } }, 'bios'), { kind: 'unsupported', message: /boot mode Legacy/ });
});

t.test('redfishMessage prefers the extended info', async (t) => {
  t.equal(redfishMessage({ error: { message: 'general', '@Message.ExtendedInfo': [{ Message: 'specific' }] } }), 'specific');
  t.equal(redfishMessage({ error: { message: 'general' } }), 'general');
  t.equal(redfishMessage('x'), undefined);
});

t.test('operatorError prefixes the context and removes the password wherever it appears', async (t) => {
  const err = operatorError(new PowerError('unexpected', 'PATCH /x answered HTTP 400: bad value "hunter2" for Password', 400), 'web-01: Redfish x', ['hunter2']);
  t.equal(err.message, 'web-01: Redfish x: PATCH /x answered HTTP 400: bad value "***" for Password');
  t.equal(err.kind, 'unexpected');
  t.equal(err.status, 400);
  t.equal(operatorError(new Error('boom hunter2'), 'ctx', ['hunter2', '']).message, 'ctx: unexpected failure: boom ***');
});
