import { isIPv6Address, parseIpAddress } from '../net/ip-address.js';

/** Most addresses whose subject is remembered; a flood of distinct addresses only clears it. */
const MEMO_MAX = 10_000;

/**
 * The subject a failure limiter counts a client address under. An IPv4
 * address is itself (also when written IPv4-mapped, `::ffff:a.b.c.d`); an
 * IPv6 address counts for its network of `ipv6PrefixBits` bits, because one
 * client (a home, a cloud VM) is routinely given a whole /64 and can pick a
 * fresh address for every request.
 */
export function clientSubjects(ipv6PrefixBits: number): (address: string) => string {
  const memo = new Map<string, string>();
  return (address) => {
    if (address.indexOf(':') === -1) return address; // IPv4: the common case, nothing to compute
    let subject = memo.get(address);
    if (subject === undefined) {
      subject = ipv6Subject(address, ipv6PrefixBits);
      if (memo.size >= MEMO_MAX) memo.clear();
      memo.set(address, subject);
    }
    return subject;
  };
}

// Only on a memo miss: parsing (ipaddr.js, after Node's own check of the syntax) costs a few microseconds.
function ipv6Subject(address: string, prefixBits: number): string {
  const parsed = parseIpAddress(address);
  if (parsed === undefined || !isIPv6Address(parsed)) return address;
  if (parsed.isIPv4MappedAddress()) return parsed.toIPv4Address().toString();
  const masked = parsed.parts.map((group, index) => {
    const bitsKept = Math.min(16, Math.max(0, prefixBits - index * 16));
    return bitsKept === 0 ? 0 : group & (0xffff << (16 - bitsKept)) & 0xffff;
  });
  return `${masked.map((group) => group.toString(16)).join(':')}/${prefixBits}`;
}
