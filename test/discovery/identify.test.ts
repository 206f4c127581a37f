import t from 'tap';
import { findEntry, fingerprint, usableSerial, usableUuid } from '../../server/discovery/identify.js';
import type { DiscoveredEntry } from '../../server/model/discovery.js';
import { Inventory } from '../../server/model/hardware.js';

const JUNK = [
  undefined,
  '',
  '   ',
  'To Be Filled By O.E.M.',
  'TO BE FILLED BY O.E.M.',
  'Default string',
  'default STRING',
  'Not Specified',
  'Not Applicable',
  'System Serial Number',
  'None',
  'none',
  '0',
  '123456789',
  '0123456789',
  ' 0123456789 ',
  '00000000',
  'XXXXXXXXXX',
  'xxxXXX',
  '..........',
  'A',
];

t.test('junk serials and UUIDs are refused, real ones kept', async (t) => {
  for (const s of JUNK) {
    t.notOk(usableSerial(s), `serial ${JSON.stringify(s)}`);
    t.notOk(usableUuid(s), `uuid ${JSON.stringify(s)}`);
  }
  for (const u of ['00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '03000200-0400-0500-0006-000700080009'])
    t.notOk(usableUuid(u), `uuid ${u}`);
  for (const s of ['ABC1234', 'CZ2D1B0XYZ', '1234567890', '00000001', 'J3X4K52']) t.ok(usableSerial(s), `serial ${s}`);
  for (const u of ['4c4c4544-0042-3510-8052-b4c04f4e3332', '4C4C4544-0042-3510-8052-B4C04F4E3332']) t.ok(usableUuid(u), `uuid ${u}`);
});

t.test('fingerprint keeps only usable values, UUID lower-cased', async (t) => {
  const table: [unknown, { serial?: string; uuid?: string }][] = [
    [{ system: { serial: ' ABC1234 ', uuid: '4C4C4544-0042-3510-8052-B4C04F4E3332' } }, { serial: 'ABC1234', uuid: '4c4c4544-0042-3510-8052-b4c04f4e3332' }],
    [{ system: { serial: 'To Be Filled By O.E.M.', uuid: '03000200-0400-0500-0006-000700080009' } }, {}],
    [{ system: { serial: 'ABC1234', uuid: '00000000-0000-0000-0000-000000000000' } }, { serial: 'ABC1234' }],
    [{}, {}],
  ];
  for (const [report, want] of table) t.same(fingerprint(Inventory.parse(report)), want, JSON.stringify(report));
});

const entry = (id: string, macs: string[], system: Record<string, string> = {}): DiscoveredEntry => ({
  id,
  macs,
  state: 'new',
  summary: '',
  firstSeenAt: 0,
  seenAt: 0,
  inventory: Inventory.parse({ system }),
});

t.test('findEntry: a shared MAC first, then serial, then UUID', async (t) => {
  const entries = [
    entry('serial-twin', ['52:54:00:00:00:10'], { serial: 'ABC1234' }),
    entry('uuid-twin', ['52:54:00:00:00:20'], { uuid: '4C4C4544-0042-3510-8052-B4C04F4E3332' }),
    entry('mac-twin', ['52:54:00:00:00:30', '52:54:00:00:00:31'], { serial: 'OTHER' }),
    entry('junk', ['52:54:00:00:00:40'], { serial: 'To Be Filled By O.E.M.', uuid: '00000000-0000-0000-0000-000000000000' }),
  ];
  const report = (system: Record<string, string>) => Inventory.parse({ system });
  const table: [string, Record<string, string>, string[], string | undefined][] = [
    ['a MAC beats an earlier serial match', { serial: 'ABC1234' }, ['52:54:00:00:00:31'], 'mac-twin'],
    ['any MAC of the box, any notation', {}, ['52:54:00:00:00:99', '52-54-00-00-00-30'], 'mac-twin'],
    ['serial, when no MAC is shared', { serial: 'ABC1234', uuid: '4c4c4544-0042-3510-8052-b4c04f4e3332' }, ['52:54:00:00:00:99'], 'serial-twin'],
    ['serial trimmed', { serial: ' ABC1234 ' }, ['52:54:00:00:00:99'], 'serial-twin'],
    ['uuid, case-insensitive', { uuid: '4c4c4544-0042-3510-8052-b4c04f4e3332' }, ['52:54:00:00:00:99'], 'uuid-twin'],
    ['uuid after an unmatched serial', { serial: 'NEW999', uuid: '4C4C4544-0042-3510-8052-B4C04F4E3332' }, [], 'uuid-twin'],
    ['junk serial never matches junk', { serial: 'To Be Filled By O.E.M.' }, ['52:54:00:00:00:99'], undefined],
    ['junk uuid never matches junk', { uuid: '00000000-0000-0000-0000-000000000000' }, ['52:54:00:00:00:99'], undefined],
    ['a new box', { serial: 'NEW999' }, ['52:54:00:00:00:99'], undefined],
    ['nothing to go on', {}, [], undefined],
  ];
  for (const [why, system, macs, want] of table) t.equal(findEntry(entries, report(system), macs)?.id, want, why);
  t.equal(findEntry([], report({ serial: 'ABC1234' }), ['52:54:00:00:00:10']), undefined, 'no entries');
});
