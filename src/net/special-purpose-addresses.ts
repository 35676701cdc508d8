import {
  ipv4At,
  isIPv6Address,
  parseIpAddress,
  parsePrefix,
  type IpAddress,
  type IPv4Address,
  type IPv6Address,
} from './ip-address.js';

/*
 * Which IP addresses are globally reachable, from the IANA special-purpose address registries (IPv4:
 * https://www.iana.org/assignments/iana-ipv4-special-registry, IPv6:
 * https://www.iana.org/assignments/iana-ipv6-special-registry, both as of 2025), their "Globally Reachable"
 * column encoded once here, plus the few blocks those registries leave to others (multicast, the deprecated
 * IPv4-compatible and site-local addresses, and IPv6 outside the global unicast 2000::/3). The most specific
 * block containing an address decides, as the registries' footnotes say ("not usable unless by virtue of a
 * more specific reservation"). test/net/special-purpose-addresses.test.ts enumerates every row.
 */

/** `false`, `true`, or judged by the IPv4 addresses the IPv6 address carries (see {@link carriedIPv4}). */
export type GloballyReachable = boolean | 'as-carried';

export interface AddressBlock {
  prefix: string;
  name: string;
  /** Where the block is defined. */
  reference: string;
  globallyReachable: GloballyReachable;
  /** Which registry the row is from: the IANA special-purpose one, or another rule stated in `reference`. */
  registry: 'iana-special-purpose' | 'other';
}

const iana = (prefix: string, name: string, reference: string, globallyReachable: GloballyReachable) =>
  ({ prefix, name, reference, globallyReachable, registry: 'iana-special-purpose' }) satisfies AddressBlock;
const other = (prefix: string, name: string, reference: string, globallyReachable: GloballyReachable) =>
  ({ prefix, name, reference, globallyReachable, registry: 'other' }) satisfies AddressBlock;

export const IPV4_BLOCKS: readonly AddressBlock[] = [
  other('0.0.0.0/0', 'Unicast', 'IANA IPv4 Address Space', true),
  iana('0.0.0.0/8', '"This network"', 'RFC 791', false),
  iana('0.0.0.0/32', '"This host on this network"', 'RFC 1122', false),
  iana('10.0.0.0/8', 'Private-Use', 'RFC 1918', false),
  iana('100.64.0.0/10', 'Shared Address Space (CGNAT)', 'RFC 6598', false),
  iana('127.0.0.0/8', 'Loopback', 'RFC 1122', false),
  iana('169.254.0.0/16', 'Link Local (cloud metadata)', 'RFC 3927', false),
  iana('172.16.0.0/12', 'Private-Use', 'RFC 1918', false),
  iana('192.0.0.0/24', 'IETF Protocol Assignments', 'RFC 6890', false),
  iana('192.0.0.0/29', 'IPv4 Service Continuity Prefix', 'RFC 7335', false),
  iana('192.0.0.8/32', 'IPv4 dummy address', 'RFC 7600', false),
  iana('192.0.0.9/32', 'Port Control Protocol Anycast', 'RFC 7723', true),
  iana('192.0.0.10/32', 'Traversal Using Relays around NAT Anycast', 'RFC 8155', true),
  iana('192.0.0.170/32', 'NAT64/DNS64 Discovery', 'RFC 8880', false),
  iana('192.0.0.171/32', 'NAT64/DNS64 Discovery', 'RFC 8880', false),
  iana('192.0.2.0/24', 'Documentation (TEST-NET-1)', 'RFC 5737', false),
  iana('192.31.196.0/24', 'AS112-v4', 'RFC 7535', true),
  iana('192.52.193.0/24', 'AMT', 'RFC 7450', true),
  // Listed as deprecated (RFC 7526) with N/A: a relay anycast nobody should be sent requests through.
  iana('192.88.99.0/24', 'Deprecated (6to4 Relay Anycast)', 'RFC 7526', false),
  iana('192.88.99.2/32', '6a44-relay anycast address', 'RFC 6751', false),
  iana('192.168.0.0/16', 'Private-Use', 'RFC 1918', false),
  iana('192.175.48.0/24', 'Direct Delegation AS112 Service', 'RFC 7534', true),
  iana('198.18.0.0/15', 'Benchmarking', 'RFC 2544', false),
  iana('198.51.100.0/24', 'Documentation (TEST-NET-2)', 'RFC 5737', false),
  iana('203.0.113.0/24', 'Documentation (TEST-NET-3)', 'RFC 5737', false),
  other('224.0.0.0/4', 'Multicast', 'RFC 5771', false),
  iana('240.0.0.0/4', 'Reserved', 'RFC 1112', false),
  iana('255.255.255.255/32', 'Limited Broadcast', 'RFC 919', false),
];

export const IPV6_BLOCKS: readonly AddressBlock[] = [
  other('::/0', 'Reserved by IETF or unassigned', 'IANA IPv6 Address Space', false),
  other('2000::/3', 'Global Unicast', 'IANA IPv6 Address Space', true),
  iana('::1/128', 'Loopback', 'RFC 4291', false),
  iana('::/128', 'Unspecified', 'RFC 4291', false),
  other('::/96', 'IPv4-compatible (deprecated)', 'RFC 4291 §2.5.5.1', false),
  // The registry says false because such an address is never on the wire; a socket given one connects
  // over IPv4 to the address it carries, so that address is judged.
  iana('::ffff:0:0/96', 'IPv4-mapped', 'RFC 4291', 'as-carried'),
  other('::ffff:0:0:0/96', 'IPv4-translated (SIIT)', 'RFC 7915', false),
  iana('64:ff9b::/96', 'IPv4-IPv6 Translation (NAT64)', 'RFC 6052', 'as-carried'),
  iana('64:ff9b:1::/48', 'IPv4-IPv6 Translation (local-use NAT64)', 'RFC 8215', false),
  iana('100::/64', 'Discard-Only Address Block', 'RFC 6666', false),
  iana('100:0:0:1::/64', 'Dummy IPv6 Prefix', 'RFC 9780', false),
  iana('2001::/23', 'IETF Protocol Assignments', 'RFC 2928', false),
  iana('2001::/32', 'Teredo', 'RFC 4380', 'as-carried'),
  iana('2001:1::1/128', 'Port Control Protocol Anycast', 'RFC 7723', true),
  iana('2001:1::2/128', 'Traversal Using Relays around NAT Anycast', 'RFC 8155', true),
  iana('2001:1::3/128', 'DNS-SD Service Registration Protocol Anycast', 'RFC 9665', true),
  iana('2001:2::/48', 'Benchmarking', 'RFC 5180', false),
  iana('2001:3::/32', 'AMT', 'RFC 7450', true),
  iana('2001:4:112::/48', 'AS112-v6', 'RFC 7535', true),
  iana('2001:10::/28', 'Deprecated (previously ORCHID)', 'RFC 4843', false),
  iana('2001:20::/28', 'ORCHIDv2', 'RFC 7343', true),
  iana('2001:30::/28', 'Drone Remote ID Protocol Entity Tags (DETs) Prefix', 'RFC 9374', true),
  iana('2001:db8::/32', 'Documentation', 'RFC 3849', false),
  iana('2002::/16', '6to4', 'RFC 3056', 'as-carried'),
  iana('2620:4f:8000::/48', 'Direct Delegation AS112 Service', 'RFC 7534', true),
  iana('3fff::/20', 'Documentation', 'RFC 9637', false),
  iana('5f00::/16', 'Segment Routing (SRv6) SIDs', 'RFC 9602', false),
  iana('fc00::/7', 'Unique-Local', 'RFC 4193', false),
  iana('fe80::/10', 'Link-Local Unicast', 'RFC 4291', false),
  other('fec0::/10', 'Site-Local (deprecated)', 'RFC 3879', false),
  other('ff00::/8', 'Multicast', 'RFC 4291', false),
];

type ParsedBlock = AddressBlock & { range: [IpAddress, number] };
const parse = (blocks: readonly AddressBlock[]): ParsedBlock[] =>
  // Most specific first: the first block that contains an address is the one that decides.
  blocks.map((block) => ({ ...block, range: parsePrefix(block.prefix) })).sort((a, b) => b.range[1] - a.range[1]);
const ipv4Blocks = parse(IPV4_BLOCKS);
const ipv6Blocks = parse(IPV6_BLOCKS);

/** The most specific block an address is in (every address is in one: each table has a /0 row). */
export function blockOf(address: IpAddress): AddressBlock {
  const blocks = address.kind() === 'ipv4' ? ipv4Blocks : ipv6Blocks;
  return blocks.find((block) => address.match(block.range))!;
}

/**
 * The IPv4 addresses an IPv6 address carries, by the form it has: IPv4-mapped, IPv4-compatible, SIIT and
 * NAT64 (RFC 6052 /96 prefixes) in the last 32 bits; 6to4 in bits 16–47; Teredo its server in bits 32–63
 * and its client, XORed with 0xffffffff, in the last 32 bits.
 */
export function carriedIPv4(address: IPv6Address): IPv4Address[] {
  const block = blockOf(address).prefix;
  switch (block) {
    case '::/96':
    case '::ffff:0:0/96':
    case '::ffff:0:0:0/96':
    case '64:ff9b::/96':
    case '64:ff9b:1::/48':
      return [ipv4At(address, 12)];
    case '2002::/16':
      return [ipv4At(address, 2)];
    case '2001::/32':
      return [ipv4At(address, 4), ipv4At(address, 12, 0xff)];
    default:
      return [];
  }
}

export interface AddressVerdict {
  globallyReachable: boolean;
  /** Why: the block that decided, e.g. "Loopback", or "6to4 carrying 127.0.0.1 (Loopback)". */
  reason: string;
}

/** Whether an address (any textual form) is globally reachable; text that is no IP address is not. */
export function classifyAddress(text: string): AddressVerdict {
  const address = parseIpAddress(text);
  if (address === undefined) return { globallyReachable: false, reason: 'not an IP address' };
  const block = blockOf(address);
  if (block.globallyReachable !== 'as-carried' || !isIPv6Address(address)) {
    return { globallyReachable: block.globallyReachable === true, reason: block.name };
  }
  for (const ipv4 of carriedIPv4(address)) {
    const carried = blockOf(ipv4);
    if (carried.globallyReachable !== true) {
      return { globallyReachable: false, reason: `${block.name} carrying ${ipv4.toString()} (${carried.name})` };
    }
  }
  return { globallyReachable: true, reason: block.name };
}
