import t from 'tap';
import { Config } from '../../server/config/schema.js';
import { dhcpSegments } from '../../server/dhcp/segments.js';

const dhcp = (d: object) => Config.parse({ dhcp: d }).dhcp;

t.test('what one instance at a time answers: subnets when authoritative, the interface’s network in proxy mode', async (t) => {
  t.same(dhcpSegments(dhcp({ mode: 'off' })), []);
  const subnets = [{ cidr: '10.0.10.0/24', range: ['10.0.10.100', '10.0.10.199'] }, { cidr: '10.0.20.0/24' }];
  t.same(dhcpSegments(dhcp({ mode: 'authoritative', interface: 'lo', subnets })), ['10.0.10.0/24', '10.0.20.0/24']);
  t.same(dhcpSegments(dhcp({ mode: 'proxy', interface: 'lo', subnets })), ['127.0.0.0/8'], 'proxy hands out no addresses: its subnets name nothing it answers');
  t.same(dhcpSegments(dhcp({ mode: 'proxy' })), [], 'no interface: the DHCP server refuses to start, naming it');
});
