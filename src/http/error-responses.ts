import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyError } from 'fastify';
import {
  CsrfRejected,
  WrongPassword,
  EmailTaken,
  envelopeCode,
  errorEnvelope,
  GitHubKeysUnavailable,
  InvalidCredentials,
  InvalidRequest,
  UnknownScope,
  KeyNotActive,
  LimitCountsUnavailable,
  RateLimitAboveAccount,
  KeyNotFound,
  SessionNotFound,
  ReportTooLarge,
  RevocationPending,
  RotationPending,
  RouteNotFound,
  ServerBusy,
  ServiceUnavailable,
  SessionRequired,
  SignatureInvalid,
  SignupClosed,
  TooManySignInFailures,
  TooManySignUps,
  WebhookLimitReached,
  WebhookNotFound,
  WebhookUrlRefused,
} from './errors.js';
import { EXAMPLE } from './examples.js';
import { KeyLimitReached } from '../db/active-key-slots.js';
import { insufficientScope, KeyRefusal, REFUSED } from '../../packages/member/src/refusals.js';
import { limitRefusalOf } from '../../packages/member/src/rate-limits.js';

/**
 * Example error bodies, by example name, built from the errors keyward really raises (so their codes and
 * messages cannot drift from the code). Validation messages are Ajv's, as the error handler sends them.
 */
const ERROR_EXAMPLES = {
  invalid_body: new InvalidRequest("body must NOT have additional property 'colour'"),
  invalid_key_id: new InvalidRequest('params/keyId must match pattern "^[0-9A-Za-z]{16}$"'),
  invalid_query: new InvalidRequest("querystring must NOT have additional property 'colour'"),
  invalid_api_key: REFUSED.invalid,
  api_key_revoked: REFUSED.revoked,
  api_key_expired: REFUSED.expired,
  session_required: new SessionRequired(),
  invalid_credentials: new InvalidCredentials(),
  server_busy: new ServerBusy(),
  csrf_rejected: new CsrfRejected(),
  wrong_password: new WrongPassword(),
  signup_closed: new SignupClosed(),
  key_not_found: new KeyNotFound(),
  session_not_found: new SessionNotFound(),
  invalid_session_id: new InvalidRequest('params/sessionId must match pattern "^[0-9a-f]{16}$"'),
  email_taken: new EmailTaken(),
  key_limit_reached: new KeyLimitReached(),
  key_not_active: new KeyNotActive(),
  rotation_pending: new RotationPending(),
  rate_limited: new KeyRefusal('KW_RATE_LIMITED'),
  key_rate_limited: limitRefusalOf('key', 100, 60, 41),
  quota_exceeded: limitRefusalOf('quota', 1_000_000, 2_678_400, 86_400),
  rate_limit_above_account: new RateLimitAboveAccount(
    "rateLimit: 5000 per 60 s is above this account's limit of 1000 per 60 s. A key's limit may be lower than its account's, not higher.",
  ),
  sign_in_limited: new TooManySignInFailures('14 minutes'),
  sign_up_limited: new TooManySignUps('52 minutes'),
  service_unavailable: new ServiceUnavailable(),
  limit_counts_unavailable: new LimitCountsUnavailable(),
  auth_unavailable: REFUSED.unavailable,
  address_not_allowed: REFUSED.addressNotAllowed,
  insufficient_scope: insufficientScope(['orders:write']),
  invalid_request_header: new InvalidRequest(
    'headers/x-keyward-required-scopes must NOT have more than 4096 characters',
  ),
  unknown_scope: new UnknownScope('orders:wirte'),
  invalid_network: new InvalidRequest('allowedNetworks: "10.0.0.0/33" is not an IPv4 or IPv6 address or CIDR range.'),
  revocation_pending: new RevocationPending(),
  webhook_not_found: new WebhookNotFound(),
  webhook_limit_reached: new WebhookLimitReached(10),
  webhook_url_refused: new WebhookUrlRefused(
    "The URL's host 10.0.0.7 is a loopback, private, link-local or reserved address (Private-Use); " +
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
} satisfies Record<string, ExampleError>;

export type ErrorExample = keyof typeof ERROR_EXAMPLES;
/** An error shown as an example: what the envelope says of it. */
type ExampleError = Pick<FastifyError, 'code' | 'message'>;

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

function errorExample(example: ErrorExample | ExampleError) {
  const error = typeof example === 'string' ? ERROR_EXAMPLES[example] : example;
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
 * error as the example; `[status, ...examples]` names the errors this route gives with that status (by name,
 * or an error a feature builds itself, as the accounts do for a weak password).
 */
export function errors(
  ...statuses: Array<number | readonly [number, ...Array<ErrorExample | ExampleError>]>
): Record<number, TSchema> {
  return Object.fromEntries(
    statuses.map((entry) => {
      const [status, ...names] = typeof entry === 'number' ? [entry] : entry;
      const examples = names.length > 0 ? names : [DEFAULT_ERROR_EXAMPLES[status]!];
      return [status, Type.Ref(ErrorEnvelope.$id!, { examples: examples.map(errorExample) })];
    }),
  );
}
