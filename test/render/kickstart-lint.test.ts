import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { lintKickstart } from '../../server/render/kickstart-lint.js';
import { goldenDir } from './helpers.js';

/** One broken kickstart per rule, made from a golden file by one edit. */
const web = readFileSync(join(goldenDir, 'web-01.ks'), 'utf8');
const util = readFileSync(join(goldenDir, 'util-01.ks'), 'utf8');
const lineOf = (text: string, needle: string) => `kickstart:${text.split('\n').findIndex((l) => l.includes(needle)) + 1}`;

function replaced(text: string, from: string | RegExp, to: string): string {
  const out = text.replace(from, to);
  if (out === text) throw new Error(`edit ${from} did not apply`);
  return out;
}

t.test('the golden kickstarts are clean', async (t) => {
  t.same(lintKickstart(web, { firmware: 'uefi' }), []);
  t.same(lintKickstart(util, { firmware: 'bios' }), []);
});

const cases: Array<[string, string, 'bios' | 'uefi', (text: string) => string, RegExp]> = [
  ['a section without %end', web, 'uefi', (k) => replaced(k, /%end\n*$/, ''), /%onerror is not closed/],
  ['%end outside a section', web, 'uefi', (k) => `%end\n${k}`, /%end without an open section/],
  ['bootloader twice', web, 'uefi', (k) => `${k}bootloader --boot-drive=/dev/disk/by-id/wwn-0x5000c500a1b2c3d4\n`, /bootloader must appear exactly once/],
  ['a disk outside ignoredisk', web, 'uefi', (k) => replaced(k, /^ignoredisk --only-use=(.*),\/dev\/disk\/by-id\/wwn-0x5000c500a1b2c3d4$/m, 'ignoredisk --only-use=$1'), /wwn-0x5000c500a1b2c3d4 is not in ignoredisk/],
  ['logvol before its volgroup', web, 'uefi', (k) => replaced(k, '--vgname=vg_sys --name=var', '--vgname=vg_data --name=var'), /volume group vg_data before any volgroup/],
  ['raid on an undefined member', web, 'uefi', (k) => replaced(k, 'part raid.12 ', 'part raid.99 '), /uses raid.12 before/],
  ['a mountpoint twice', web, 'uefi', (k) => replaced(k, 'logvol /var ', 'logvol / '), /mountpoint \/ is already used/],
  ['two growing logvols in one group', web, 'uefi', (k) => replaced(k, '--name=swap --fstype=swap --size=8192', '--name=swap --fstype=swap --size=8192 --grow'), /second growing logvol in vg_sys/],
  ['a part without --ondisk', util, 'bios', (k) => replaced(k, /^(part \/boot .*) --ondisk=\S+/m, '$1'), /no --ondisk/],
  ['a static device without gateway', web, 'uefi', (k) => replaced(k, ' --gateway=10.0.10.1', ''), /has no --gateway/],
  ['UEFI without /boot/efi', util, 'uefi', (k) => k, /UEFI needs a \/boot\/efi/],
  ['BIOS without biosboot', web, 'bios', (k) => k, /needs a biosboot partition/],
  ['a carriage return inside a line', web, 'uefi', (k) => replaced(k, 'rootpw --iscrypted ', 'rootpw --iscrypted x\r%pre '), /carriage return/],
  ['a quote that does not close', web, 'uefi', (k) => replaced(k, /^(sshkey --username=ops "[^"]*)"$/m, '$1'), /quote is not closed/],
];

for (const [name, base, firmware, edit, expected] of cases)
  t.test(name, async (t) => {
    const problems = lintKickstart(edit(base), { firmware });
    t.ok(problems.length > 0, 'refused');
    t.ok(problems.every((p) => expected.test(p.message)), problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  });

t.test('problems point at the offending line', async (t) => {
  const text = replaced(web, 'logvol /var ', 'logvol / ');
  t.same(lintKickstart(text, { firmware: 'uefi' })[0].path, lineOf(text, '--name=var'));
});
