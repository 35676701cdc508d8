import { isIPv6 } from 'node:net';

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

function ipv6Subject(address: string, prefixBits: number): string {
  const withoutZone = address.split('%', 1)[0]!;
  if (!isIPv6(withoutZone)) return address;
  const groups = ipv6Groups(withoutZone);
  const mappedIPv4 = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
  if (mappedIPv4) return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  const masked = groups.map((group, index) => {
    const bitsKept = Math.min(16, Math.max(0, prefixBits - index * 16));
    return bitsKept === 0 ? 0 : group & (0xffff << (16 - bitsKept)) & 0xffff;
  });
  return `${masked.map((group) => group.toString(16)).join(':')}/${prefixBits}`;
}

/** The eight 16-bit groups of a valid IPv6 address (with `::` and a trailing dotted IPv4 expanded). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const left = parse(head);
  if (tail === undefined) return left;
  const right = parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}
