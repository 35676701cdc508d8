import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';

export interface GitHubPublicKeysOptions {
  /** The JSON document `{ "public_keys": [{ "key_identifier", "key", "is_current" }] }`. */
  url: string;
  /** Sent as a bearer token: GitHub rate-limits the document per address. */
  token?: string;
  /** How long a fetched set is used before it is fetched again. */
  cacheMs: number;
  /**
   * Least time between two fetches caused by an unknown identifier, and between a failed fetch and the next
   * attempt: a stream of bogus identifiers, or GitHub being down, costs at most one fetch per interval.
   */
  refetchIntervalMs: number;
  timeoutMs: number;
  log: FastifyBaseLogger;
  /** Injected by tests. */
  now?: () => number;
  fetch?: typeof globalThis.fetch;
}

/** Why a signature was not accepted; `unavailable` when no key set could ever be fetched. */
export type SignatureCheck = 'valid' | 'invalid' | 'unknown_key' | 'unavailable';

/** Longest document accepted from the keys URL: GitHub's is ~1 KiB per key. */
const MAX_DOCUMENT_BYTES = 256 * 1024;

/**
 * GitHub's secret scanning signing keys, fetched from the keys URL and cached. Fetches are single-flight;
 * the last good set is kept when a fetch fails, so a GitHub outage does not stop reports signed with a key
 * keyward already knows.
 */
export class GitHubPublicKeys {
  private keys: Map<string, KeyObject> | undefined;
  private fetchedAt = -Infinity;
  private failedAt = -Infinity;
  private unknownRefetchAt = -Infinity;
  private inflight: Promise<boolean> | undefined;
  /** Fetches started, for the tests and the log. */
  fetches = 0;
  private readonly now: () => number;
  private readonly fetchDocument: typeof globalThis.fetch;

  constructor(private readonly options: GitHubPublicKeysOptions) {
    this.now = options.now ?? (() => performance.now());
    this.fetchDocument = options.fetch ?? globalThis.fetch;
  }

  /** Verifies an ECDSA P-256 / SHA-256 signature (base64 of DER) over the raw body. */
  async check(identifier: string, signatureBase64: string, body: Buffer): Promise<SignatureCheck> {
    const key = await this.keyFor(identifier);
    if (key === undefined) return this.keys === undefined ? 'unavailable' : 'unknown_key';
    const signature = Buffer.from(signatureBase64, 'base64');
    try {
      return verify('sha256', body, { key, dsaEncoding: 'der' }, signature) ? 'valid' : 'invalid';
    } catch {
      return 'invalid'; // not DER at all
    }
  }

  private async keyFor(identifier: string): Promise<KeyObject | undefined> {
    let fetchedNow = false;
    const now = this.now();
    if (now - this.fetchedAt >= this.options.cacheMs && this.mayRetry(now)) fetchedNow = await this.refresh();
    const key = this.keys?.get(identifier);
    if (key !== undefined || fetchedNow) return key;
    // An identifier we do not know: GitHub may have rotated its keys since our fetch. Refetch, at most once
    // per interval whatever the identifiers sent (a refetch already under way is joined).
    if (this.inflight === undefined) {
      if (now - this.unknownRefetchAt < this.options.refetchIntervalMs || !this.mayRetry(now)) return undefined;
      this.unknownRefetchAt = now;
    }
    await this.refresh();
    return this.keys?.get(identifier);
  }

  /** After a failed fetch, the next waits for the refetch interval (each would cost a timeout). */
  private mayRetry(now: number): boolean {
    return this.inflight !== undefined || now - this.failedAt >= this.options.refetchIntervalMs;
  }

  /** Fetches the document once for every caller waiting; resolves whether a new set was loaded. */
  private refresh(): Promise<boolean> {
    this.inflight ??= this.load().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async load(): Promise<boolean> {
    this.fetches++;
    try {
      const response = await this.fetchDocument(this.options.url, {
        headers: {
          accept: 'application/json',
          ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
        },
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      if (!response.ok) throw new Error(`answered ${response.status}`);
      const text = await response.text();
      if (text.length > MAX_DOCUMENT_BYTES) throw new Error('document too large');
      this.keys = parseKeyDocument(JSON.parse(text));
      this.fetchedAt = this.now();
      return true;
    } catch (error) {
      this.failedAt = this.now();
      this.options.log.warn(
        { err: { message: (error as Error).message }, keptKeys: this.keys?.size ?? 0 },
        'could not fetch GitHub secret scanning public keys; keeping the last good set',
      );
      return false;
    }
  }
}

/** The keys of GitHub's document by identifier; throws when it has none usable. */
export function parseKeyDocument(document: unknown): Map<string, KeyObject> {
  const entries = (document as { public_keys?: unknown })?.public_keys;
  if (!Array.isArray(entries)) throw new Error('no public_keys array');
  const keys = new Map<string, KeyObject>();
  for (const entry of entries) {
    const { key_identifier: identifier, key } = (entry ?? {}) as { key_identifier?: unknown; key?: unknown };
    if (typeof identifier !== 'string' || typeof key !== 'string') continue;
    try {
      const publicKey = createPublicKey(key);
      // The contract is ECDSA on P-256: a key of another kind is ignored, never trusted.
      if (publicKey.asymmetricKeyType === 'ec' && publicKey.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
        keys.set(identifier, publicKey);
      }
    } catch {
      // an unreadable PEM: skip it, the others still count
    }
  }
  if (keys.size === 0) throw new Error('no usable P-256 public key');
  return keys;
}
