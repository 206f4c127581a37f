/** The memo keys of a machine and profile are bounded: without publicUrl, every Host header is a new base. */
import t from 'tap';
import { Config } from '../../server/config/schema.js';
import { Machine } from '../../server/model/machine.js';
import { Profile } from '../../server/model/profile.js';
import { renderKey } from '../../server/render/context.js';
import { minimalProfile } from '../helpers/fixtures.js';

t.test('a machine/profile pair keeps a few keys, not one per Host header ever seen', async (t) => {
  const config = Config.parse({});
  const machine = Machine.parse({ name: 'm1', profile: 'p1', macs: ['52:54:00:00:00:01'] });
  const profile = Profile.parse(minimalProfile());
  const ctx = (i: number) => ({ machine, profile, config, token: 't', urls: { base: `http://h${i}.example` } });
  const stringify = JSON.stringify;
  let builds = 0;
  JSON.stringify = ((...args: Parameters<typeof stringify>) => (builds++, stringify(...args))) as typeof stringify;
  try {
    for (let i = 0; i < 1000; i++) renderKey('kickstart', ctx(i));
    t.equal(builds, 1000, 'each new base builds its key once');
    renderKey('kickstart', ctx(999));
    t.equal(builds, 1000, 'a recent base is a hit');
    renderKey('kickstart', ctx(0));
    t.equal(builds, 1001, 'the first of a thousand bases was forgotten: the table is bounded');
  } finally {
    JSON.stringify = stringify;
  }
});
