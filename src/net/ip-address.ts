import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export type IPv4Address = ipaddr.IPv4;
export type IPv6Address = ipaddr.IPv6;
export type IpAddress = IPv4Address | IPv6Address;

/**
 * An IP address written as the standards write one (RFC 4291 §2.2 for IPv6, dotted-decimal for IPv4), or
 * undefined. Node's `isIP` says what is an address: ipaddr.js alone would also take the shorthand forms
 * `127.1` and `0x7f.1`, and read `::a.b.c.d` as IPv4-mapped rather than IPv4-compatible; so an IPv6 address
 * reaches it in the WHATWG URL parser's canonical form (all hex), and a zone (`%eth0`) is set aside.
 */
export function parseIpAddress(text: string): IpAddress | undefined {
  const family = isIP(text);
  if (family === 4) return ipaddr.IPv4.parse(text);
  if (family !== 6) return undefined;
  const withoutZone = text.split('%', 1)[0]!;
  if (isIP(withoutZone) !== 6) return undefined;
  const canonical = new URL(`http://[${withoutZone}]/`).hostname.slice(1, -1);
  return ipaddr.IPv6.parse(canonical);
}

/** The IPv4 address in four bytes of an IPv6 address, each XORed with `mask` (Teredo obscures its client's). */
export function ipv4At(address: IPv6Address, byteOffset: number, mask = 0): IPv4Address {
  const bytes = address.toByteArray().slice(byteOffset, byteOffset + 4);
  return new ipaddr.IPv4(bytes.map((byte) => byte ^ mask));
}

/** A prefix such as `64:ff9b::/96`, parsed once. */
export function parsePrefix(prefix: string): [IpAddress, number] {
  return ipaddr.parseCIDR(prefix);
}

export function isIPv6Address(address: IpAddress): address is IPv6Address {
  return address.kind() === 'ipv6';
}
