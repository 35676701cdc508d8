import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/*
 * SSRF guard for webhook URLs. A webhook makes keyward's own network send a request wherever an account
 * says, so addresses inside the network are refused: loopback, private, link-local (cloud metadata at
 * 169.254.169.254), CGNAT, unspecified, multicast, reserved, and their IPv6 forms (ULA, link-local,
 * IPv4-mapped and NAT64 addresses are judged by the IPv4 address they carry). Checked when an endpoint is
 * registered and again on every delivery, on the address the connection then really uses: the `lookup`
 * below is handed to the HTTP client, so a DNS answer that changes between the check and the connect
 * (rebinding) is checked itself. Decimal and hex IPv4 forms (`2130706433`, `0x7f.1`) need nothing special:
 * the WHATWG URL parser turns them into dotted quads before anything here sees them.
 */

const blocked = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 96], // unspecified, loopback and the deprecated IPv4-compatible addresses
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID…)
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}

/** The 8 groups of an IPv6 address (any textual form Node accepts). */
function ipv6Groups(address: string): number[] {
  // The URL parser writes every IPv6 address in one canonical, compressed hex form.
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const [head, tail] = canonical.includes('::') ? canonical.split('::') : [canonical, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return groups.map((group) => parseInt(group, 16));
}

/** The IPv4 address an IPv6 address carries: IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`). */
function embeddedIPv4(groups: number[]): string | undefined {
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  const nat64 = groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0);
  if (!mapped && !nat64) return undefined;
  const [high, low] = [groups[6]!, groups[7]!];
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/** Whether a webhook may connect to this IP address (v4 or v6) when private networks are not allowed. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !blocked.check(address, 'ipv4');
  if (family !== 6) return false;
  const groups = ipv6Groups(address);
  const ipv4 = embeddedIPv4(groups);
  if (ipv4 !== undefined) return !blocked.check(ipv4, 'ipv4');
  return !blocked.check(address, 'ipv6');
}

export class WebhookAddressRefused extends Error {
  override name = 'WebhookAddressRefused';
}

export interface WebhookAddressPolicy {
  /** Admit private addresses and `http` (KEYWARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS). */
  allowPrivateNetworks: boolean;
}

/** A URL's host as an IP literal, without IPv6 brackets; undefined for a name. */
function ipLiteral(url: URL): string | undefined {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return isIP(host) === 0 ? undefined : host;
}

type LookupAll = (hostname: string) => Promise<LookupAddress[]>;

const lookupAll: LookupAll = (hostname) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses),
    ),
  );

/**
 * Checks a URL an account registers: `https` (or `http` with private networks allowed), no credentials,
 * and, unless private networks are allowed, every address its host resolves to is public. Throws
 * WebhookAddressRefused with a reason a person can act on.
 */
export async function checkWebhookUrl(
  raw: string,
  policy: WebhookAddressPolicy,
  resolve: LookupAll = lookupAll,
): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebhookAddressRefused('The URL is not a valid absolute URL.');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowPrivateNetworks)) {
    throw new WebhookAddressRefused('Webhook URLs must use https.');
  }
  if (url.username !== '' || url.password !== '') {
    throw new WebhookAddressRefused('Webhook URLs must not contain credentials.');
  }
  if (policy.allowPrivateNetworks) return url;
  const literal = ipLiteral(url);
  if (literal !== undefined) {
    if (!isPublicAddress(literal)) throw new WebhookAddressRefused(privateMessage(url.hostname));
    return url;
  }
  let addresses: LookupAddress[];
  try {
    addresses = await resolve(url.hostname);
  } catch {
    throw new WebhookAddressRefused(`The host ${url.hostname} does not resolve.`);
  }
  const refused = addresses.find((entry) => !isPublicAddress(entry.address));
  if (addresses.length === 0 || refused !== undefined) {
    throw new WebhookAddressRefused(privateMessage(`${url.hostname} (${refused?.address ?? 'no address'})`));
  }
  return url;
}

function privateMessage(host: string): string {
  return (
    `The URL's host ${host} is a loopback, private, link-local or reserved address; ` +
    'keyward sends webhooks to public addresses only.'
  );
}

/** The `lookup` signature Node's http/https/net accept. */
export type ConnectLookup = (
  hostname: string,
  options: { all?: boolean },
  callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
) => void;

/**
 * The resolver a delivery connects with: it resolves the name and refuses it unless every address is public,
 * so the address checked is the address connected to (no window for DNS rebinding). With private networks
 * allowed it is the plain system resolver.
 */
export function connectLookup(policy: WebhookAddressPolicy, resolve: LookupAll = lookupAll): ConnectLookup {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (addresses) => {
        const refused = addresses.find((entry) => !isPublicAddress(entry.address));
        if (!policy.allowPrivateNetworks && (addresses.length === 0 || refused !== undefined)) {
          const error: NodeJS.ErrnoException = new WebhookAddressRefused(
            privateMessage(`${hostname} (${refused?.address ?? 'no address'})`),
          );
          error.code = 'KW_WEBHOOK_ADDRESS_REFUSED';
          return callback(error, []);
        }
        if (options.all) return callback(null, addresses);
        const first = addresses[0]!;
        callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, []),
    );
  };
}

/** Refuses, at delivery time, a URL whose host is a private IP literal (the resolver is not asked for those). */
export function checkLiteralAtDelivery(url: URL, policy: WebhookAddressPolicy): void {
  if (policy.allowPrivateNetworks) return;
  if (url.protocol !== 'https:') throw new WebhookAddressRefused('Webhook URLs must use https.');
  const literal = ipLiteral(url);
  if (literal !== undefined && !isPublicAddress(literal)) throw new WebhookAddressRefused(privateMessage(url.hostname));
}
