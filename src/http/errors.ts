import createError from '@fastify/error';

/*
 * Every error keyward answers with. `KW_KEY_LIMIT_REACHED` reaches clients as
 * the envelope code `key_limit_reached` (listed in the README); never rename one.
 */
const OWN_CODE_PREFIX = 'KW_';

/** The envelope code of one of keyward's own errors, or undefined for anyone else's. */
export function envelopeCode(errorCode: string | undefined): string | undefined {
  return errorCode?.startsWith(OWN_CODE_PREFIX) ? errorCode.slice(OWN_CODE_PREFIX.length).toLowerCase() : undefined;
}
/**
 * The body of every error keyward answers, wherever it is written (Fastify, raw sockets, Express, the metrics
 * listener); its schema is `ErrorEnvelope` in http/error-responses.ts.
 */
export function errorEnvelope(code: string, message: string, requestId: string) {
  return { error: { code, message, requestId } };
}

export const InvalidRequest = createError<[string]>('KW_INVALID_REQUEST', '%s', 400);
export const UnknownScope = createError<[string]>(
  'KW_UNKNOWN_SCOPE',
  "Not a scope of this deployment's catalogue (GET /v1/scopes lists them): %s.",
  400,
);
export const RateLimitAboveAccount = createError<[string]>('KW_RATE_LIMIT_ABOVE_ACCOUNT', '%s', 400);
// A refused key check is answered with @keyward/member's KeyRefusal (packages/member/src/refusals.ts), the same
// codes and words in keyward's server and in every service of the fleet.
export const SessionRequired = createError('KW_SESSION_REQUIRED', 'Sign in to the dashboard first.', 401);
export const InvalidCredentials = createError('KW_INVALID_CREDENTIALS', 'Wrong email or password.', 401);
export const WrongPassword = createError(
  'KW_WRONG_PASSWORD',
  'The current password is not right. Nothing was changed.',
  403,
);
export const CsrfRejected = createError(
  'KW_CSRF_REJECTED',
  'Cross-site request refused: the Origin does not match this dashboard.',
  403,
);
export const SignupClosed = createError(
  'KW_SIGNUP_CLOSED',
  'Sign-up is closed on this deployment. Ask its operator for an account.',
  403,
);
export const KeyNotFound = createError('KW_KEY_NOT_FOUND', 'No such key in your account.', 404);
export const RouteNotFound = createError<[string, string]>('KW_NOT_FOUND', 'No route %s %s.', 404);
export const SessionNotFound = createError(
  'KW_SESSION_NOT_FOUND',
  'No such session of yours: it may have ended or expired already.',
  404,
);
export const EmailTaken = createError('KW_EMAIL_TAKEN', 'An account with this email already exists.', 409);
export const KeyNotActive = createError('KW_KEY_NOT_ACTIVE', 'This key is revoked or expired.', 409);
export const RotationPending = createError(
  'KW_ROTATION_PENDING',
  'This key already has an expiry scheduled; revoke it or wait for it to expire.',
  409,
);
export const RevocationPending = createError(
  'KW_REVOCATION_PENDING',
  'The key is revoked in the database, but not every instance could be told yet because Redis is unreachable. ' +
    'It stops working everywhere as soon as Redis answers again; retrying this call is safe.',
  503,
);
/**
 * A wait in words for the people who read the dashboard's messages ("14 minutes", "40 seconds"),
 * rounded up so that trying again at that time works. The Retry-After header still carries the seconds.
 */
export function waitInWords(seconds: number): string {
  const unit = (count: number, name: string) => `${count} ${name}${count === 1 ? '' : 's'}`;
  if (seconds < 60) return unit(Math.max(1, Math.ceil(seconds)), 'second');
  if (seconds < 3600) return unit(Math.ceil(seconds / 60), 'minute');
  return unit(Math.ceil(seconds / 3600), 'hour');
}

export const TooManySignInFailures = createError<[string]>(
  'KW_RATE_LIMITED',
  'Too many failed sign-ins. Try again in %s.',
  429,
);
export const MetricsTokenRequired = createError(
  'KW_METRICS_TOKEN_REQUIRED',
  'GET /metrics needs the header Authorization: Bearer <KEYWARD_METRICS_TOKEN>.',
  401,
);
export const TooManySignUps = createError<[string]>(
  'KW_RATE_LIMITED',
  // One message for both limits, so the answer never tells which one (nor anything about the email).
  'Too many sign-up attempts from this address or for this email. Try again in %s.',
  429,
);
export const WebhookNotFound = createError('KW_WEBHOOK_NOT_FOUND', 'No such webhook endpoint in your account.', 404);
export const WebhookLimitReached = createError<[number]>(
  'KW_WEBHOOK_LIMIT_REACHED',
  'This account already has %d webhook endpoints. Delete one before adding another.',
  409,
);
/** A webhook URL refused: not https, or its host is (or resolves to) a private, loopback or link-local address. */
export const WebhookUrlRefused = createError<[string]>('KW_WEBHOOK_URL_REFUSED', '%s', 400);
export const ServiceUnavailable = createError(
  'KW_SERVICE_UNAVAILABLE',
  'keyward cannot reach its database right now. Nothing was changed; retry shortly.',
  503,
);
/** The consumption view could not read the fleet's counts; the limits themselves still hold (each instance's share). */
export const LimitCountsUnavailable = createError(
  'KW_LIMIT_COUNTS_UNAVAILABLE',
  'keyward cannot read the rate-limit counts from Redis right now. The limits still apply; retry shortly.',
  503,
);

export const SignatureInvalid = createError(
  'KW_SIGNATURE_INVALID',
  'The report is not signed by GitHub: the Github-Public-Key-Signature header is missing, or does not verify ' +
    'the raw body with the GitHub key named by Github-Public-Key-Identifier.',
  401,
);
/** Fastify's answer to a body over a route's limit, as the error handler sends it (for the docs' examples). */
export const ReportTooLarge = createError('KW_PAYLOAD_TOO_LARGE', 'Request body is too large', 413);
export const GitHubKeysUnavailable = createError(
  'KW_GITHUB_KEYS_UNAVAILABLE',
  "GitHub's secret scanning public keys could not be fetched, so the report cannot be verified. Retry shortly.",
  503,
);
export const ServerBusy = createError(
  'KW_SERVER_BUSY',
  'keyward is busy checking API keys right now; nothing was changed. Try again in a few seconds.',
  503,
);
export const WeakPassword = createError<[string]>('KW_WEAK_PASSWORD', '%s', 400);

/** Codes Fastify itself raises, mapped onto keyward's codes by status. */
export const GENERIC_CODES: Record<number, string> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  417: 'expectation_failed',
  429: 'rate_limited',
  431: 'headers_too_large',
  499: 'client_closed_request',
  500: 'internal_error',
  503: 'service_unavailable',
};
export const MemberCredentialInvalid = createError(
  'KW_MEMBER_CREDENTIAL_INVALID',
  'A valid member credential (kwm_…) is required in the Authorization header: Bearer <credential>. ' +
    'It may have been revoked: ask the operator (keyward members list).',
  401,
);
export const NoFleetToJoin = createError(
  'KW_NO_FLEET',
  'This keyward runs without Redis (single-instance mode): there is no fleet to join. Set REDIS_URL on keyward, ' +
    'or open the member with withoutFleet: true to check every key with keyward.',
  409,
);
