import fc from 'fast-check';
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

t.test('any spelling of any IPv6 address counts for the network its first bits name (RFC 4291 §2.2)', async (t) => {
  const groups = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 });
  const details = await fc.check(
    fc.property(groups, fc.integer({ min: 0, max: 128 }), (parts, prefixBits) => {
      const subject = clientSubjects(prefixBits);
      const full = parts.map((part) => part.toString(16).padStart(4, '0')).join(':');
      const canonical = new URL(`http://[${full}]/`).hostname.slice(1, -1);
      const dotted = `${parts
        .slice(0, 6)
        .map((part) => part.toString(16))
        .join(':')}:${[parts[6]! >> 8, parts[6]! & 0xff, parts[7]! >> 8, parts[7]! & 0xff].join('.')}`;
      const spellings = [full, full.toUpperCase(), canonical, `${canonical}%eth0`, dotted];
      const mapped = parts.slice(0, 5).every((part) => part === 0) && parts[5] === 0xffff;
      const expected = mapped
        ? dotted.split(':').at(-1)
        : `${parts.map((part, index) => (part & maskOf(prefixBits - index * 16)).toString(16)).join(':')}/${prefixBits}`;
      return spellings.every((spelling) => subject(spelling) === expected);
    }),
    { seed: 29, numRuns: 2000 },
  );
  t.notOk(details.failed, 'one subject per network', {
    report: details.failed ? fc.defaultReportMessage(details) : undefined,
  });
});

/** The mask keeping the first `bits` (clamped to 0…16) of a 16-bit group. */
function maskOf(bits: number): number {
  const kept = Math.min(16, Math.max(0, bits));
  return (0xffff << (16 - kept)) & 0xffff;
}
