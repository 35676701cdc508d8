import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { classifyAddress } from '../net/special-purpose-addresses.js';

/*
 * SSRF guard for webhook URLs. A webhook makes keyward's own network send a request wherever an account
 * says, so only globally reachable addresses are admitted, by the IANA special-purpose registries
 * (src/net/special-purpose-addresses.ts): loopback, private, link-local (cloud metadata at 169.254.169.254),
 * CGNAT, documentation, benchmarking, multicast, reserved, ULA, and every IPv6 form that carries an IPv4
 * address (IPv4-mapped, -compatible and -translated, NAT64, 6to4, Teredo) unless what it carries is public.
 * Checked when an endpoint is registered and again on every delivery, on the address the connection then
 * really uses: the `lookup` below is handed to the HTTP client, so a DNS answer that changes between the
 * check and the connect (rebinding) is checked itself. Decimal and hex IPv4 forms (`2130706433`, `0x7f.1`)
 * need nothing special: the WHATWG URL parser turns them into dotted quads before anything here sees them.
 */

/** Whether a webhook may connect to this IP address (v4 or v6) when private networks are not allowed. */
export function isPublicAddress(address: string): boolean {
  return classifyAddress(address).globallyReachable;
}

/** The first address of a DNS answer that is not public, with why; undefined when all are. */
function firstRefused(addresses: LookupAddress[]): { address: string; reason: string } | undefined {
  for (const { address } of addresses) {
    const verdict = classifyAddress(address);
    if (!verdict.globallyReachable) return { address, reason: verdict.reason };
  }
  return undefined;
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
    const verdict = classifyAddress(literal);
    if (!verdict.globallyReachable) throw new WebhookAddressRefused(privateMessage(url.hostname, verdict.reason));
    return url;
  }
  let addresses: LookupAddress[];
  try {
    addresses = await resolve(url.hostname);
  } catch {
    throw new WebhookAddressRefused(`The host ${url.hostname} does not resolve.`);
  }
  const refused = firstRefused(addresses);
  if (addresses.length === 0 || refused !== undefined) {
    throw new WebhookAddressRefused(
      privateMessage(`${url.hostname} (${refused?.address ?? 'no address'})`, refused?.reason ?? 'no address'),
    );
  }
  return url;
}

function privateMessage(host: string, reason: string): string {
  return (
    `The URL's host ${host} is a loopback, private, link-local or reserved address (${reason}); ` +
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
        const refused = policy.allowPrivateNetworks ? undefined : firstRefused(addresses);
        if (!policy.allowPrivateNetworks && (addresses.length === 0 || refused !== undefined)) {
          const error: NodeJS.ErrnoException = new WebhookAddressRefused(
            privateMessage(`${hostname} (${refused?.address ?? 'no address'})`, refused?.reason ?? 'no address'),
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
  if (literal === undefined) return;
  const verdict = classifyAddress(literal);
  if (!verdict.globallyReachable) throw new WebhookAddressRefused(privateMessage(url.hostname, verdict.reason));
}
