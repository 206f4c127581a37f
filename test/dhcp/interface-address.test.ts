import t from 'tap';
import { interfaceAddress, interfaceNetwork } from '../../server/dhcp/interface-address.js';

t.test('an interface Node lists answers with its IPv4 address', async (t) => {
  t.equal(interfaceAddress('lo'), '127.0.0.1');
});

t.test('an interface that does not exist is an error naming it and the settings that avoid the lookup', async (t) => {
  const err = t.throws(() => interfaceAddress('ks-no-such0')) as Error;
  t.match(err.message, /dhcp\.interface ks-no-such0 /);
  t.match(err.message, /dhcp\.serverAddress/);
  t.match(err.message, /http\.publicUrl/);
});

t.test("an interface's network: the segment proxy DHCP answers", async (t) => {
  t.equal(interfaceNetwork('lo'), '127.0.0.0/8');
  t.throws(() => interfaceNetwork('ks-no-such0'), /dhcp\.interface ks-no-such0 has no IPv4 address; proxy DHCP names the segment/);
});
