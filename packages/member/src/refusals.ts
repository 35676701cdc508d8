/** Every way a key check refuses a caller, as the `code` of its {@link KeyRefusal}. */
export type KeyRefusalCode =
  | 'KW_INVALID_API_KEY'
  | 'KW_API_KEY_REVOKED'
  | 'KW_API_KEY_EXPIRED'
  | 'KW_ADDRESS_NOT_ALLOWED'
  | 'KW_INSUFFICIENT_SCOPE'
  | 'KW_RATE_LIMITED'
  | 'KW_QUOTA_EXCEEDED'
  | 'KW_AUTH_UNAVAILABLE';

const MESSAGES: Record<KeyRefusalCode, string> = {
  KW_INVALID_API_KEY: 'A valid API key is required in the x-api-key header.',
  KW_API_KEY_REVOKED: 'This API key has been revoked.',
  KW_API_KEY_EXPIRED: 'This API key has expired.',
  KW_ADDRESS_NOT_ALLOWED: "This API key may not be used from this address (see the key's allowed networks).",
  KW_INSUFFICIENT_SCOPE: 'This API key lacks a scope this request needs.',
  KW_RATE_LIMITED: 'Too many failed API key checks from this address. Retry after the time in the Retry-After header.',
  KW_QUOTA_EXCEEDED: 'This account used its monthly quota. It renews at the start of next month (UTC).',
  KW_AUTH_UNAVAILABLE: 'The key could not be checked right now. Retry shortly.',
};

const STATUS: Record<KeyRefusalCode, 401 | 403 | 429 | 503> = {
  KW_INVALID_API_KEY: 401,
  KW_API_KEY_REVOKED: 401,
  KW_API_KEY_EXPIRED: 401,
  KW_ADDRESS_NOT_ALLOWED: 403,
  KW_INSUFFICIENT_SCOPE: 403,
  KW_RATE_LIMITED: 429,
  KW_QUOTA_EXCEEDED: 429,
  KW_AUTH_UNAVAILABLE: 503,
};

/** The values of the `RateLimit-Policy` and `RateLimit` response fields (draft-ietf-httpapi-ratelimit-headers). */
export interface RateLimitFields {
  policy: string;
  state: string;
}

/**
 * A refused check, with the HTTP status and the code keyward's own API answers
 * with. Every adapter answers it with the same body: {@link refusalEnvelope}.
 */
export class KeyRefusal extends Error {
  readonly statusCode: 401 | 403 | 429 | 503;
  /** With 429: when the client may try again, for a `Retry-After` header. */
  readonly retryAfterSeconds: number | undefined;
  /** With a key's or account's limit: the IETF `RateLimit-Policy` and `RateLimit` fields to answer with. */
  readonly rateLimit: RateLimitFields | undefined;

  constructor(
    readonly code: KeyRefusalCode,
    retryAfterSeconds?: number,
    message = MESSAGES[code],
    rateLimit?: RateLimitFields,
  ) {
    super(message);
    this.name = 'KeyRefusal';
    this.statusCode = STATUS[code];
    this.retryAfterSeconds = retryAfterSeconds;
    this.rateLimit = rateLimit;
  }
}

/**
 * The refusals that carry nothing of their own are made once: they are
 * answered at flood rates, and capturing a stack per refusal cost ~6% of CPU
 * in a profile of keyward's server.
 */
export const REFUSED = {
  invalid: Object.freeze(new KeyRefusal('KW_INVALID_API_KEY')),
  revoked: Object.freeze(new KeyRefusal('KW_API_KEY_REVOKED')),
  expired: Object.freeze(new KeyRefusal('KW_API_KEY_EXPIRED')),
  unavailable: Object.freeze(new KeyRefusal('KW_AUTH_UNAVAILABLE')),
  addressNotAllowed: Object.freeze(new KeyRefusal('KW_ADDRESS_NOT_ALLOWED')),
} as const;

/** The 403 for a key without every scope a route needs, naming the ones it lacks. */
export function insufficientScope(missing: readonly string[]): KeyRefusal {
  return new KeyRefusal(
    'KW_INSUFFICIENT_SCOPE',
    undefined,
    `This API key lacks the scope${missing.length === 1 ? '' : 's'} this request needs: ${missing.join(' ')}.`,
  );
}

const RATE_LIMITED_BY_WAIT = new Map<number, KeyRefusal>();

/** The 429 refusal with a wait of `retryAfterSeconds`, made once per distinct wait (flood rates, as {@link REFUSED}). */
export function rateLimited(retryAfterSeconds: number): KeyRefusal {
  let refusal = RATE_LIMITED_BY_WAIT.get(retryAfterSeconds);
  if (refusal === undefined) {
    refusal = Object.freeze(new KeyRefusal('KW_RATE_LIMITED', retryAfterSeconds));
    if (RATE_LIMITED_BY_WAIT.size < 4096) RATE_LIMITED_BY_WAIT.set(retryAfterSeconds, refusal);
  }
  return refusal;
}

/** What any of keyward's refusals has (the server's own errors too): its code, status and wait. */
export interface RefusalLike {
  code: string;
  message: string;
  statusCode?: number;
  retryAfterSeconds?: number | undefined;
  rateLimit?: RateLimitFields | undefined;
}

/** The response headers a refusal carries beyond its body: `Retry-After` and the RateLimit fields. */
export function refusalHeaders(refusal: RefusalLike, setHeader: (name: string, value: string) => void): void {
  if (typeof refusal.retryAfterSeconds === 'number') setHeader('retry-after', String(refusal.retryAfterSeconds));
  if (refusal.rateLimit instanceof Object && typeof refusal.rateLimit.policy === 'string') {
    setHeader('ratelimit-policy', refusal.rateLimit.policy);
    setHeader('ratelimit', refusal.rateLimit.state);
  }
}

/**
 * keyward's error envelope `{ error: { code, message, requestId } }` for a
 * refusal: `KW_INVALID_API_KEY` is answered as `invalid_api_key`, as keyward's
 * own API does.
 */
export function refusalEnvelope(refusal: RefusalLike, requestId: string) {
  const code = refusal.code.startsWith('KW_') ? refusal.code.slice(3).toLowerCase() : 'unauthorized';
  return { error: { code, message: refusal.message, requestId } };
}

/** A caller's X-Request-Id that is honoured as the envelope's `requestId` (and echoed), so logs line up. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
