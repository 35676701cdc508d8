import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyError } from 'fastify';
import {
  ApiKeyExpired,
  ApiKeyRevoked,
  AuthUnavailable,
  CsrfRejected,
  WrongPassword,
  EmailTaken,
  envelopeCode,
  errorEnvelope,
  GitHubKeysUnavailable,
  InvalidApiKey,
  InvalidCredentials,
  InvalidRequest,
  KeyLimitReached,
  KeyNotActive,
  KeyNotFound,
  ReportTooLarge,
  RevocationPending,
  RotationPending,
  RouteNotFound,
  ServerBusy,
  ServiceUnavailable,
  SessionRequired,
  SignatureInvalid,
  SignupClosed,
  TooManyFailedChecks,
  TooManySignInFailures,
  TooManySignUps,
  WeakPassword,
  WebhookLimitReached,
  WebhookNotFound,
  WebhookUrlRefused,
} from '../errors.js';
import { KEY_ID_PATTERN } from '../keys/key-format.js';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, passwordProblem } from '../services/password-policy.js';

/**
 * Values the OpenAPI examples share, so the examples of different calls tell one consistent story. The keys
 * have the real format (valid checksums, so they parse), but their secrets spell out that they are examples.
 */
export const EXAMPLE = {
  userId: '0b9d6c52-3f8e-4a1d-9c27-5e4f8a6b1d30',
  accountId: 'c3f1a8e2-6b4d-4f7a-8e19-2d5c7b9a0e64',
  email: 'ada@example.com',
  accountName: 'Acme Inc.',
  keyId: '4ZbQ0cXw9LmT2pVa',
  apiKey: 'kw_4ZbQ0cXw9LmT2pVa_EXAMPLEx0nly0n0tA0real0secret00010BteCL',
  hint: 'kw_4ZbQ0cXw9LmT2pVa_…teCL',
  newKeyId: '9hVxR2mKc7TqLw3N',
  newApiKey: 'kw_9hVxR2mKc7TqLw3N_EXAMPLEx0nly0n0tA0real0secret00023Djt7n',
  newHint: 'kw_9hVxR2mKc7TqLw3N_…jt7n',
  requestId: '9f1c2e7a-54b3-4d8e-a6f0-3b2d1c9e8f47',
} as const;

/**
 * Example error bodies, by example name, built from the errors keyward really raises (so their codes and
 * messages cannot drift from the code). Validation messages are Ajv's, as the error handler sends them.
 */
const ERROR_EXAMPLES = {
  invalid_body: new InvalidRequest("body must NOT have additional property 'colour'"),
  invalid_key_id: new InvalidRequest('params/keyId must match pattern "^[0-9A-Za-z]{16}$"'),
  invalid_query: new InvalidRequest("querystring must NOT have additional property 'colour'"),
  invalid_api_key: new InvalidApiKey(),
  api_key_revoked: new ApiKeyRevoked(),
  api_key_expired: new ApiKeyExpired(),
  session_required: new SessionRequired(),
  invalid_credentials: new InvalidCredentials(),
  // A sequence: refused before the list of common passwords is read, so building the document never reads it.
  weak_password: new WeakPassword(passwordProblem('1234567890')!),
  server_busy: new ServerBusy(),
  csrf_rejected: new CsrfRejected(),
  wrong_password: new WrongPassword(),
  signup_closed: new SignupClosed(),
  key_not_found: new KeyNotFound(),
  email_taken: new EmailTaken(),
  key_limit_reached: new KeyLimitReached(),
  key_not_active: new KeyNotActive(),
  rotation_pending: new RotationPending(),
  rate_limited: new TooManyFailedChecks(),
  sign_in_limited: new TooManySignInFailures('14 minutes'),
  sign_up_limited: new TooManySignUps('52 minutes'),
  service_unavailable: new ServiceUnavailable(),
  auth_unavailable: new AuthUnavailable(),
  revocation_pending: new RevocationPending(),
  webhook_not_found: new WebhookNotFound(),
  webhook_limit_reached: new WebhookLimitReached(10),
  webhook_url_refused: new WebhookUrlRefused(
    "The URL's host 10.0.0.7 is a loopback, private, link-local or reserved address; " +
      'keyward sends webhooks to public addresses only.',
  ),
  webhook_url_not_https: new WebhookUrlRefused('Webhook URLs must use https.'),
  invalid_webhook_id: new InvalidRequest('params/webhookId must match format "uuid"'),
  signature_invalid: new SignatureInvalid(),
  route_not_found: new RouteNotFound('POST', '/v1/secret-scanning/github'),
  report_too_large: new ReportTooLarge(),
  github_keys_unavailable: new GitHubKeysUnavailable(),
  too_many_matches: new InvalidRequest('A report may carry at most 1000 matches; this one has 1200.'),
  invalid_report: new InvalidRequest('The body must be a JSON array of {token, type, url, source} objects.'),
} satisfies Record<string, FastifyError>;

export type ErrorExample = keyof typeof ERROR_EXAMPLES;

/** The example shown for a status when a route does not name its own. */
const DEFAULT_ERROR_EXAMPLES: Record<number, ErrorExample> = {
  400: 'invalid_body',
  401: 'session_required',
  403: 'csrf_rejected',
  404: 'key_not_found',
  409: 'key_limit_reached',
  429: 'rate_limited',
  503: 'service_unavailable',
};

function errorExample(name: ErrorExample) {
  const error = ERROR_EXAMPLES[name];
  return errorEnvelope(envelopeCode(error.code)!, error.message, EXAMPLE.requestId);
}

export const ErrorEnvelope = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable machine-readable code (see README).', examples: ['key_limit_reached'] }),
      message: Type.String({ description: 'Plain-language explanation for people.' }),
      requestId: Type.String({ description: 'Quote this when reporting a problem.' }),
    }),
  },
  {
    $id: 'ErrorEnvelope',
    title: 'ErrorEnvelope',
    description: 'Every error keyward returns.',
    examples: [errorExample('key_limit_reached')],
  },
);

/**
 * Error responses a route can give, by status, all in the one envelope. A status alone documents its usual
 * error as the example; `[status, ...examples]` names the errors this route gives with that status.
 */
export function errors(...statuses: Array<number | readonly [number, ...ErrorExample[]]>): Record<number, TSchema> {
  return Object.fromEntries(
    statuses.map((entry) => {
      const [status, ...names] = typeof entry === 'number' ? [entry] : entry;
      const examples = names.length > 0 ? names : [DEFAULT_ERROR_EXAMPLES[status]!];
      return [status, Type.Ref(ErrorEnvelope.$id!, { examples: examples.map(errorExample) })];
    }),
  );
}

/** The body of POST /v1/signup; also what `keyward create-account` checks its arguments against. */
/** A password being set (sign-up, password change): its rules are src/services/password-policy.ts. */
export const NewPassword = Type.String({
  maxLength: PASSWORD_MAX_LENGTH,
  description:
    `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters (Unicode code points), used exactly as ` +
    'sent (never trimmed). No composition rules; refused with 400 weak_password when it is only spaces, ' +
    'repeats or sequences ("aaaaaaaaaa", "1234567890"), one of the 20,000 most common passwords (also ' +
    'with a few digits or symbols added, or in leetspeak), or built on the email, the account name or ' +
    '"keyward". The message says which.',
});

export const SignUpBody = Type.Object(
  {
    email: Type.String({ format: 'email', maxLength: 254, examples: ['ada@example.com'] }),
    password: NewPassword,
    accountName: Type.String({ minLength: 1, maxLength: 100, pattern: '\\S', examples: ['Acme Inc.'] }),
  },
  {
    additionalProperties: false,
    examples: [{ email: EXAMPLE.email, password: 'correct horse battery', accountName: EXAMPLE.accountName }],
  },
);

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

export const KeyRevocation = Type.Union(
  [
    Type.Object({
      reason: Type.Union([Type.Literal('revoked'), Type.Literal('leaked'), Type.Literal('expired')], {
        description:
          '`revoked`: on request (dashboard, API, `keyward revoke-key`). `leaked`: revoked automatically because ' +
          'a secret scanner (GitHub) reported it found in public. `expired`: its scheduled expiry passed.',
      }),
      at: Type.String({ format: 'date-time', description: 'When the key stopped working.' }),
      leak: Type.Union(
        [
          Type.Object({
            url: Type.String({ description: 'Where it was found, as reported (may be empty).' }),
            source: Type.String({
              description: "What it was found in, GitHub's `source`: `commit`, `content`, `issue_comment`, …",
            }),
            reportedAt: Type.String({ format: 'date-time', description: 'When the first report arrived.' }),
          }),
          Type.Null(),
        ],
        { description: 'The first report of this key found in public, also when it had ended before.' },
      ),
    }),
    Type.Null(),
  ],
  { description: 'Why and when the key ended; null while it is active.' },
);

export const Key = Type.Object(
  {
    id: Type.String({ examples: [EXAMPLE.keyId] }),
    name: Type.String({ examples: ['production'] }),
    hint: Type.String({ description: 'Prefix, id and last 4 characters; never the secret.', examples: [EXAMPLE.hint] }),
    status: Type.Union([Type.Literal('active'), Type.Literal('revoked'), Type.Literal('expired')]),
    createdAt: Type.String({ format: 'date-time' }),
    createdBy: Type.Union([Type.String(), Type.Null()], { description: 'Email of the user who created it.' }),
    expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'When this key stops (or stopped) working: set when it was generated, or by a rotation.',
    }),
    revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'Latest request with this key, as of the last usage flush (every KEYWARD_USAGE_FLUSH_MS).',
    }),
    requestsLast24h: Type.Integer({ minimum: 0, description: 'Requests in the last 24 hours, as flushed.' }),
    lastRejectedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description:
        'Latest request refused because this key was revoked or expired, as of the last usage flush: ' +
        'a service still sending it.',
    }),
    rejectedLast24h: Type.Integer({
      minimum: 0,
      description: 'Requests refused in the last 24 hours because this key was revoked or expired, as flushed.',
    }),
    replacesKeyId: Type.Union([Type.String(), Type.Null()], {
      description:
        'The key this one was generated to replace (`POST /v1/keys/{keyId}/rotate`); null for a key generated ' +
        'on its own. Two active keys are a rotation only when one replaces the other.',
    }),
    revocation: KeyRevocation,
  },
  { $id: 'Key', title: 'Key', examples: [KEY_EXAMPLE, LEAKED_KEY_EXAMPLE] },
);
export const KeyRef = Type.Ref(Key.$id!);

/** A session as sign-up and sign-in answer it, for examples. */
export const SESSION_EXAMPLE = {
  user: { id: EXAMPLE.userId, email: EXAMPLE.email },
  account: { id: EXAMPLE.accountId, name: EXAMPLE.accountName },
  expiresAt: '2026-03-02T21:30:00.000Z',
};

export const Session = Type.Object(
  {
    user: Type.Object({ id: Type.String({ format: 'uuid' }), email: Type.String() }),
    account: Type.Object({ id: Type.String({ format: 'uuid' }), name: Type.String() }),
    expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { $id: 'Session', title: 'Session', examples: [SESSION_EXAMPLE] },
);
export const SessionRef = Type.Ref(Session.$id!, { examples: [SESSION_EXAMPLE] });

/** Schemas registered with `addSchema`, so OpenAPI shows them as named components. */
export const sharedSchemas = [ErrorEnvelope, Key, Session];

export const API_KEY_SECURITY = [{ apiKey: [] }];
/**
 * Either session cookie: `keyward_session` where the cookie is not Secure (the embedded default), or
 * `__Host-keyward_session` where it is (Postgres or NODE_ENV=production). A deployment sets one of them.
 */
export const SESSION_SECURITY: Array<Record<string, string[]>> = [{ sessionCookie: [] }, { secureSessionCookie: [] }];
