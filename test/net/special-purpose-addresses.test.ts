import { isIP } from 'node:net';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import t from 'tap';
import { parseIpAddress } from '../../src/net/ip-address.js';
import {
  classifyAddress,
  IPV4_BLOCKS,
  IPV6_BLOCKS,
  type AddressBlock,
} from '../../src/net/special-purpose-addresses.js';

/*
 * The IANA special-purpose address registries, row by row (issue 29): every row's first and last address
 * is classified as its "Globally Reachable" column says, unless a more specific row decides; every IPv6
 * form that carries an IPv4 address is judged by what it carries.
 */

/** The registries' rows as IANA publishes them (prefix, Globally Reachable; N/A as null), 2025. */
const IANA_IPV4: Array<[string, boolean | null]> = [
  ['0.0.0.0/8', false],
  ['0.0.0.0/32', false],
  ['10.0.0.0/8', false],
  ['100.64.0.0/10', false],
  ['127.0.0.0/8', false],
  ['169.254.0.0/16', false],
  ['172.16.0.0/12', false],
  ['192.0.0.0/24', false],
  ['192.0.0.0/29', false],
  ['192.0.0.8/32', false],
  ['192.0.0.9/32', true],
  ['192.0.0.10/32', true],
  ['192.0.0.170/32', false],
  ['192.0.0.171/32', false],
  ['192.0.2.0/24', false],
  ['192.31.196.0/24', true],
  ['192.52.193.0/24', true],
  ['192.88.99.0/24', null],
  ['192.88.99.2/32', false],
  ['192.168.0.0/16', false],
  ['192.175.48.0/24', true],
  ['198.18.0.0/15', false],
  ['198.51.100.0/24', false],
  ['203.0.113.0/24', false],
  ['240.0.0.0/4', false],
  ['255.255.255.255/32', false],
];
const IANA_IPV6: Array<[string, boolean | null]> = [
  ['::1/128', false],
  ['::/128', false],
  ['::ffff:0:0/96', false],
  ['64:ff9b::/96', true],
  ['64:ff9b:1::/48', false],
  ['100::/64', false],
  ['100:0:0:1::/64', false],
  ['2001::/23', false],
  ['2001::/32', null],
  ['2001:1::1/128', true],
  ['2001:1::2/128', true],
  ['2001:1::3/128', true],
  ['2001:2::/48', false],
  ['2001:3::/32', true],
  ['2001:4:112::/48', true],
  ['2001:10::/28', false],
  ['2001:20::/28', true],
  ['2001:30::/28', true],
  ['2001:db8::/32', false],
  ['2002::/16', null],
  ['2620:4f:8000::/48', true],
  ['3fff::/20', false],
  ['5f00::/16', false],
  ['fc00::/7', false],
  ['fe80::/10', false],
];

t.test('the tables hold every row of the IANA registries, with its Globally Reachable column', async (t) => {
  for (const [published, blocks] of [
    [IANA_IPV4, IPV4_BLOCKS],
    [IANA_IPV6, IPV6_BLOCKS],
  ] as const) {
    const rows = blocks.filter((block) => block.registry === 'iana-special-purpose');
    t.same(rows.map((block) => block.prefix).sort(), published.map(([prefix]) => prefix).sort(), 'the same rows');
    for (const [prefix, reachable] of published) {
      const block = rows.find((row) => row.prefix === prefix)!;
      // N/A rows (6to4, Teredo, the deprecated 6to4 relay) and IPv4-mapped are decided by what they carry, or refused.
      if (reachable !== null && prefix !== '::ffff:0:0/96' && prefix !== '64:ff9b::/96') {
        t.equal(block.globallyReachable, reachable, `${prefix} ${block.name}`);
      }
    }
  }
});

/** The first and last address of a block. */
function ends(prefix: string): string[] {
  return [ipaddr.IPv4, ipaddr.IPv6].flatMap((kind) =>
    kind.isValidCIDR(prefix)
      ? [kind.networkAddressFromCIDR(prefix).toString(), kind.broadcastAddressFromCIDR(prefix).toString()]
      : [],
  );
}

function mostSpecific(blocks: readonly AddressBlock[], address: string): AddressBlock {
  const parsed = parseIpAddress(address)!;
  return blocks
    .filter((block) => parsed.match(ipaddr.parseCIDR(block.prefix)))
    .sort((a, b) => Number(b.prefix.split('/')[1]) - Number(a.prefix.split('/')[1]))[0]!;
}

t.test("each row's first and last address is classified by the row (or a more specific one)", async (t) => {
  for (const blocks of [IPV4_BLOCKS, IPV6_BLOCKS]) {
    for (const block of blocks) {
      for (const address of ends(block.prefix)) {
        const decider = mostSpecific(blocks, address);
        if (decider.globallyReachable === 'as-carried') continue; // the next test
        t.equal(
          classifyAddress(address).globallyReachable,
          decider.globallyReachable,
          `${address} (${block.prefix}, decided by ${decider.prefix} ${decider.name})`,
        );
      }
    }
  }
});

t.test('every IPv6 form that carries an IPv4 address', async (t) => {
  const forms: Array<[form: string, carrying: (ipv4: string) => string, ownVerdict: 'as-carried' | false]> = [
    ['IPv4-mapped', (ipv4) => `::ffff:${ipv4}`, 'as-carried'],
    ['IPv4-compatible', (ipv4) => `::${ipv4}`, false],
    ['SIIT IPv4-translated', (ipv4) => `::ffff:0:${ipv4}`, false],
    ['NAT64 64:ff9b::/96', (ipv4) => `64:ff9b::${ipv4}`, 'as-carried'],
    ['local-use NAT64 64:ff9b:1::/48', (ipv4) => `64:ff9b:1::${ipv4}`, false],
    ['6to4', (ipv4) => `2002:${hexGroups(ipv4)}::1`, 'as-carried'],
    ['Teredo, as server', (ipv4) => `2001:0:${hexGroups(ipv4)}:0:0:${hexGroups('8.8.4.4', 0xff)}`, 'as-carried'],
    ['Teredo, as client', (ipv4) => `2001:0:${hexGroups('8.8.4.4')}:0:0:${hexGroups(ipv4, 0xff)}`, 'as-carried'],
  ];
  for (const [form, carrying, ownVerdict] of forms) {
    for (const internal of ['127.0.0.1', '169.254.169.254', '10.0.0.1', '192.168.1.1', '100.64.0.1', '0.0.0.0']) {
      const verdict = classifyAddress(carrying(internal));
      t.notOk(verdict.globallyReachable, `${form} carrying ${internal}: ${carrying(internal)} (${verdict.reason})`);
    }
    const carryingPublic = carrying('8.8.8.8');
    t.equal(
      classifyAddress(carryingPublic).globallyReachable,
      ownVerdict === 'as-carried',
      `${form} carrying 8.8.8.8: ${carryingPublic}`,
    );
  }
  // The addresses of issue 29, each in its own clothing.
  for (const address of [
    '64:ff9b:1::7f00:1',
    '64:ff9b:1::a9fe:a9fe',
    '::ffff:0:7f00:1',
    '2002:7f00:1::',
    '2002:a9fe:a9fe::',
    '2001:0:4136:e378:8000:63bf:80ff:fffe', // Teredo, client 127.0.0.1
  ]) {
    t.notOk(classifyAddress(address).globallyReachable, address);
  }
  t.match(classifyAddress('2002:7f00:1::').reason, /6to4 carrying 127\.0\.0\.1 \(Loopback\)/);
});

/** An IPv4 address as two IPv6 groups, each byte XORed with `mask`. */
function hexGroups(ipv4: string, mask = 0): string {
  const [a, b, c, d] = ipv4.split('.').map((part) => Number(part) ^ mask) as [number, number, number, number];
  return `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

t.test('addresses are parsed as RFC 4291 and dotted-decimal write them, and nothing else', async (t) => {
  const details = await fc.check(
    fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), fc.string({ maxLength: 45 })), (text) => {
      const parsed = parseIpAddress(text);
      if (isIP(text) === 0) return parsed === undefined;
      // The same 16 (or 4) bytes as the WHATWG URL parser reads, whatever the spelling.
      const host = new URL(`http://${isIP(text) === 6 ? `[${text}]` : text}/`).hostname;
      return parsed !== undefined && parsed.toString() === host.replace(/^\[|\]$/g, '');
    }),
    { seed: 29, numRuns: 3000 },
  );
  t.notOk(details.failed, 'parseIpAddress agrees with Node and the URL parser', {
    report: details.failed ? fc.defaultReportMessage(details) : undefined,
  });
  t.equal(parseIpAddress('::1.2.3.4')?.toString(), '::102:304', 'IPv4-compatible, not read as IPv4-mapped');
  t.equal(parseIpAddress('127.1'), undefined, 'shorthand IPv4 is not an address here');
  t.equal(parseIpAddress('fe80::1%eth0')?.toString(), 'fe80::1', 'a zone is set aside');
});
