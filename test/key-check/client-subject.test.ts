import t from 'tap';
import { clientSubjects } from '../../src/key-check/client-subject.js';

t.test('IPv4 addresses are themselves, written plainly or IPv4-mapped', async (t) => {
  const subject = clientSubjects(64);
  t.equal(subject('198.51.100.7'), '198.51.100.7');
  t.equal(subject('::ffff:198.51.100.7'), '198.51.100.7');
  t.equal(subject('::FFFF:c633:6407'), '198.51.100.7', 'hex form of the same mapped address');
});

t.test('IPv6 addresses count for their network, however they are spelled', async (t) => {
  const subject = clientSubjects(64);
  const network = subject('2001:db8:7:8::1');
  t.equal(network, '2001:db8:7:8:0:0:0:0/64');
  for (const address of ['2001:0db8:0007:0008:ffff:1:2:3', '2001:DB8:7:8:abcd::', '2001:db8:7:8::1%eth0']) {
    t.equal(subject(address), network, address);
  }
  t.not(subject('2001:db8:7:9::1'), network, 'the next /64');
  t.equal(subject('::1'), '0:0:0:0:0:0:0:0/64');
});

t.test('the prefix length is a setting, and may cut inside a group', async (t) => {
  t.equal(clientSubjects(48)('2001:db8:7:8::1'), '2001:db8:7:0:0:0:0:0/48');
  t.equal(clientSubjects(56)('2001:db8:7:89ab::1'), '2001:db8:7:8900:0:0:0:0/56');
  t.equal(clientSubjects(128)('2001:db8::1'), '2001:db8:0:0:0:0:0:1/128', '128: every address apart');
});

t.test('what is not an IP address is counted as given', async (t) => {
  t.equal(clientSubjects(64)('not:an:address'), 'not:an:address');
});
