import { Type } from '@sinclair/typebox';
import { KEY_ID_PATTERN } from '../../packages/member/src/key-format.js';
import { END_REASONS } from '../db/schema.js';
import { EXAMPLE } from '../http/examples.js';
import { Nullable, StringEnum } from '../http/json-types.js';

export const KeyIdParams = Type.Object({
  keyId: Type.String({
    pattern: KEY_ID_PATTERN,
    description: 'The key id (16 base62 characters).',
    examples: [EXAMPLE.keyId],
  }),
});

/** A key as the API shows it, for examples: active and in use. */
export const KEY_EXAMPLE = {
  id: EXAMPLE.keyId,
  name: 'production',
  hint: EXAMPLE.hint,
  status: 'active',
  createdAt: '2026-03-02T09:30:00.000Z',
  createdBy: EXAMPLE.email,
  expiresAt: null,
  revokedAt: null,
  lastUsedAt: '2026-03-09T16:12:40.000Z',
  requestsLast24h: 18342,
  lastRejectedAt: null,
  rejectedLast24h: 0,
  replacesKeyId: null,
  revocation: null,
  scopes: null,
  allowedNetworks: null,
  metadata: null,
  rateLimit: null,
} as const;

/** A key GitHub found in a public repository, revoked by keyward on GitHub's report, for examples. */
export const LEAKED_KEY_EXAMPLE = {
  ...KEY_EXAMPLE,
  status: 'revoked',
  revokedAt: '2026-03-09T17:05:12.000Z',
  revocation: {
    reason: 'leaked',
    at: '2026-03-09T17:05:12.000Z',
    leak: {
      url: 'https://github.com/octocat/Hello-World/blob/12345600b9cbe38a219f39a9941c9319b600c002/config.js',
      source: 'commit',
      reportedAt: '2026-03-09T17:05:12.000Z',
    },
  },
} as const;

export const KeyRevocation = Nullable(
  Type.Object({
    reason: StringEnum(END_REASONS, {
      description:
        '`revoked`: on request (dashboard, API, `keyward revoke-key`). `leaked`: revoked automatically because ' +
        'a secret scanner (GitHub) reported it found in public. `expired`: its scheduled expiry passed.',
    }),
    at: Type.String({ format: 'date-time', description: 'When the key stopped working.' }),
    leak: Nullable(
      Type.Object({
        url: Type.String({ description: 'Where it was found, as reported (may be empty).' }),
        source: Type.String({
          description: "What it was found in, GitHub's `source`: `commit`, `content`, `issue_comment`, …",
        }),
        reportedAt: Type.String({ format: 'date-time', description: 'When the first report arrived.' }),
      }),
      { description: 'The first report of this key found in public, also when it had ended before.' },
    ),
  }),
  { description: 'Why and when the key ended; null while it is active.' },
);

/** The pattern of one scope: no spaces (forward auth passes scopes space-separated), at most 64 characters. */
export const SCOPE_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:/*-]{0,63}$';
export const MAX_SCOPES = 50;
export const MAX_ALLOWED_NETWORKS = 32;
/** Metadata as JSON text, at most this many bytes, and nested at most MAX_METADATA_DEPTH deep. */
export const MAX_METADATA_BYTES = 4096;
export const MAX_METADATA_DEPTH = 4;

export const KeyScopes = Nullable(
  Type.Array(Type.String({ pattern: SCOPE_PATTERN }), { maxItems: MAX_SCOPES, uniqueItems: true }),
  {
    description:
      'The scopes the key is limited to (e.g. `orders:read`), checked by routes and by forward auth ' +
      '(`x-keyward-required-scopes`); null: full access. With a scope catalogue (KEYWARD_SCOPES_FILE) only its ' +
      'scopes are accepted (400 `unknown_scope`).',
    examples: [['orders:read']],
  },
);

export const AllowedNetworks = Nullable(
  Type.Array(Type.String({ minLength: 2, maxLength: 49 }), { maxItems: MAX_ALLOWED_NETWORKS, uniqueItems: true }),
  {
    description:
      'IPv4/IPv6 addresses and CIDR ranges the key may be used from (the client address as keyward sees it, ' +
      'behind KEYWARD_TRUSTED_PROXY_HOPS proxies; an IPv4-mapped IPv6 address is its IPv4 address); null: anywhere. ' +
      'Any other address is refused with 403 `address_not_allowed`.',
    examples: [['203.0.113.0/24', '2001:db8::/32']],
  },
);

export const KeyMetadata = Nullable(Type.Object({}, { additionalProperties: true }), {
  description:
    `The owner's JSON object about the key (at most ${MAX_METADATA_BYTES} bytes, nested at most ${MAX_METADATA_DEPTH} ` +
    'deep), returned with it and to whoever checks it; keyward never interprets it. null: none.',
  examples: [{ service: 'reporting', owner: 'data-team' }],
});

/** At most `requests` per `windowSeconds`: a key's or an account's rate limit. */
export const RateLimitObject = Type.Object(
  {
    requests: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
    windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
  },
  { additionalProperties: false },
);

export const KeyRateLimit = Nullable(RateLimitObject, {
  description:
    "The key's own rate limit: at most `requests` per `windowSeconds`, counted across every instance of the " +
    "fleet; more gets 429 `rate_limited`. It may be lower than its account's limit, never higher (400 " +
    "`rate_limit_above_account`). null: only the account's limits.",
  examples: [{ requests: 100, windowSeconds: 60 }],
});

export const Key = Type.Object(
  {
    id: Type.String({ examples: [EXAMPLE.keyId] }),
    name: Type.String({ examples: ['production'] }),
    hint: Type.String({ description: 'Prefix, id and last 4 characters; never the secret.', examples: [EXAMPLE.hint] }),
    status: StringEnum(['active', 'revoked', 'expired']),
    createdAt: Type.String({ format: 'date-time' }),
    createdBy: Nullable(Type.String(), { description: 'Email of the user who created it.' }),
    expiresAt: Nullable(Type.String({ format: 'date-time' }), {
      description: 'When this key stops (or stopped) working: set when it was generated, or by a rotation.',
    }),
    revokedAt: Nullable(Type.String({ format: 'date-time' })),
    lastUsedAt: Nullable(Type.String({ format: 'date-time' }), {
      description: 'Latest request with this key, as of the last usage flush (every KEYWARD_USAGE_FLUSH_MS).',
    }),
    requestsLast24h: Type.Integer({ minimum: 0, description: 'Requests in the last 24 hours, as flushed.' }),
    lastRejectedAt: Nullable(Type.String({ format: 'date-time' }), {
      description:
        'Latest request refused because this key was revoked or expired, as of the last usage flush: ' +
        'a service still sending it.',
    }),
    rejectedLast24h: Type.Integer({
      minimum: 0,
      description: 'Requests refused in the last 24 hours because this key was revoked or expired, as flushed.',
    }),
    replacesKeyId: Nullable(Type.String(), {
      description:
        'The key this one was generated to replace (`POST /v1/keys/{keyId}/rotate`); null for a key generated ' +
        'on its own. Two active keys are a rotation only when one replaces the other.',
    }),
    revocation: KeyRevocation,
    scopes: KeyScopes,
    allowedNetworks: AllowedNetworks,
    metadata: KeyMetadata,
    rateLimit: KeyRateLimit,
  },
  { $id: 'Key', title: 'Key', examples: [KEY_EXAMPLE, LEAKED_KEY_EXAMPLE] },
);
export const KeyRef = Type.Ref(Key.$id!);
