import t from 'tap';
import { machineName } from '../../server/discovery/machine-name.js';
import { Inventory } from '../../server/model/hardware.js';

const inv = Inventory.parse({
  system: { manufacturer: 'Dell Inc.', product: 'PowerEdge R640', serial: '  ABC-1234  ', uuid: '' },
  cpu: { count: 80 },
  interfaces: [
    { name: 'eno1', mac: '52:54:00:AA:00:01', lldp: { systemName: 'Rack12.Switch_A', portId: 'Ethernet1/7' } },
    { name: 'eno2', mac: '52:54:00:aa:00:02', lldp: { systemName: 'rack12-switch-b' } },
  ],
  bootMac: '52-54-00-AA-00-01',
  firmware: { mode: 'uefi' },
  asset: '///',
  long: 'x'.repeat(70),
  blade: true,
});

t.test('placeholders take the first value, folded into host-name characters', async (t) => {
  const table: [string, string][] = [
    ['m-{{bootMac}}', 'm-52-54-00-aa-00-01'],
    ['web-{{system.serial}}', 'web-abc-1234'],
    ['{{ system.manufacturer }}-{{system.product}}', 'dell-inc-poweredge-r640'],
    ['{{interfaces.lldp.systemName}}-{{interfaces.lldp.portId}}', 'rack12-switch-a-ethernet1-7'],
    ['n{{cpu.count}}.{{firmware.mode}}.example', 'n80.uefi.example'],
    ['{{interfaces.name}}', 'eno1'],
    ['{{blade}}-x', 'true-x'],
    ['static-01', 'static-01'],
  ];
  for (const [template, name] of table) t.same(machineName(template, inv), { name }, template);
});

t.test('a missing or empty value is an error naming the key', async (t) => {
  const table: [string, string][] = [
    ['web-{{system.uuid}}', 'machineName: {{system.uuid}} has no value in this report'],
    ['web-{{ bmc.address }}', 'machineName: {{bmc.address}} has no value in this report'],
    ['{{system.product}}-{{disks.serial}}', 'machineName: {{disks.serial}} has no value in this report'],
    ['{{system}}', 'machineName: {{system}} has no value in this report'],
    ['a-{{asset}}', 'machineName: {{asset}} is "///", which keeps no host-name characters'],
  ];
  for (const [template, error] of table) t.same(machineName(template, inv), { error }, template);
  const noSerial = Inventory.parse({ system: { serial: '   ' } });
  t.same(machineName('web-{{system.serial}}', noSerial), { error: 'machineName: {{system.serial}} has no value in this report' }, 'blank is empty');
});

t.test('the result must be a host name', async (t) => {
  const label = machineName('{{long}}', inv);
  t.same(label, { error: `machineName: "${'x'.repeat(63)}…" has a label of 70 characters; a host-name label has at most 63` });
  const long = machineName(Array.from({ length: 6 }, () => '{{system.product}}-{{system.product}}-{{system.product}}').join('.'), inv);
  t.match(long, { error: /^machineName: ".{63}…" is 269 characters; a host name has at most 253$/ });
  t.same(machineName('a..{{cpu.count}}', inv), {
    error: 'machineName: "a..80" is not an RFC 1123 host name (dot-separated labels of a-z, 0-9 and inner hyphens)',
  });
  t.same(machineName('-{{cpu.count}}', inv), {
    error: 'machineName: "-80" is not an RFC 1123 host name (dot-separated labels of a-z, 0-9 and inner hyphens)',
  }, 'a literal hyphen is kept, and checked');
  t.match(machineName('{{system.product}}.{{long}}', inv), { error: /label of 70 characters/ });
});
