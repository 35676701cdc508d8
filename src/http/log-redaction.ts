import { unescape as percentDecode } from 'node:querystring';
import type { FastifyRequest } from 'fastify';
import { KEY_ID_LENGTH } from '../../packages/member/src/key-format.js';

export const REDACTED = '[REDACTED]';

/**
 * Query parameters whose name says they carry a credential (`api_key`, `x-api-key`, `token`, `access_token`,
 * `secret`, `password`, `session`, `signature`, `auth`…): their values are never logged, whatever they hold.
 */
const CREDENTIAL_NAME = /key|token|secret|pass|session|sig|auth|cred/i;

/**
 * The text as a person or a URL parser reads it: every valid %XX escape decoded, a malformed one (`%ZZ`, a
 * cut UTF-8 sequence) kept as sent, as URLSearchParams does. decodeURIComponent gives up on the whole text
 * at one malformed escape, and a key written `%ZZkw%5F…` was then matched undecoded and logged.
 */
function decoded(text: string): string {
  return percentDecode(text.replace(/\+/g, ' '));
}

/**
 * A URL as it may be logged: every path segment, query name or value that holds something shaped like a key
 * of this deployment (its prefix, an id, a secret: whole, truncated or percent-encoded), and every value of a
 * parameter named like a credential, is replaced by `[REDACTED]`. A careless client that sends its key in the
 * URL gets a 401; its key must not also land in the logs.
 */
export function urlRedactor(keyPrefix: string): (url: string) => string {
  // Looser than the key format on purpose: a key cut short or with a typo is still most of a secret.
  const keyLike = new RegExp(`${keyPrefix}_[0-9A-Za-z]{${KEY_ID_LENGTH}}_[0-9A-Za-z]`);
  const hidden = (part: string) => (keyLike.test(decoded(part)) ? REDACTED : part);
  return (url) => {
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const safePath = path.split('/').map(hidden).join('/');
    if (queryAt === -1) return safePath;
    const query = url
      .slice(queryAt + 1)
      .split('&')
      .map((pair) => {
        const equalsAt = pair.indexOf('=');
        if (equalsAt === -1) return hidden(pair);
        const name = pair.slice(0, equalsAt);
        const value = pair.slice(equalsAt + 1);
        const safeName = hidden(name);
        return `${safeName}=${safeName === REDACTED || CREDENTIAL_NAME.test(decoded(name)) ? REDACTED : hidden(value)}`;
      })
      .join('&');
    return `${safePath}?${query}`;
  };
}

/** Fastify's request log serializer with the URL redacted (the other fields as Fastify logs them). */
export function requestLogSerializer(keyPrefix: string) {
  const redact = urlRedactor(keyPrefix);
  return (request: FastifyRequest) => ({
    method: request.method,
    url: redact(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  });
}
