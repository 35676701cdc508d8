import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors, type ErrorExample } from '../http/error-responses.js';
import { EXAMPLE } from '../http/examples.js';
import { API_KEY_SECURITY } from '../http/security-schemes.js';
import { KeyMetadata, KeyScopes } from '../keys/key-schemas.js';
import { missingScopesOf } from '../../packages/member/src/key-restriction.js';
import { insufficientScope } from '../../packages/member/src/refusals.js';

/** Every way a key check can fail, for the examples. */
const KEY_CHECK_ERRORS = [
  [401, 'invalid_api_key', 'api_key_revoked', 'api_key_expired'],
  [403, 'address_not_allowed'],
  [429, 'key_rate_limited', 'quota_exceeded', 'rate_limited'],
  [503, 'auth_unavailable'],
] as const satisfies ReadonlyArray<readonly [number, ...ErrorExample[]]>;

/** Routes authenticated by an `x-api-key`. */
export const dataPlaneRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/v1/me',
    {
      config: { apiKey: true },
      schema: {
        operationId: 'whoAmI',
        summary: 'The account and key a request is authenticated as',
        tags: ['data-plane'],
        security: API_KEY_SECURITY,
        response: {
          200: Type.Object(
            {
              accountId: Type.String({ format: 'uuid' }),
              keyId: Type.String(),
              scopes: KeyScopes,
              metadata: KeyMetadata,
            },
            {
              examples: [
                {
                  accountId: EXAMPLE.accountId,
                  keyId: EXAMPLE.keyId,
                  scopes: ['orders:read'],
                  metadata: { service: 'reporting' },
                },
              ],
            },
          ),
          ...errors(...KEY_CHECK_ERRORS),
        },
      },
    },
    async (request) => {
      const { accountId, keyId, scopes, metadata } = request.apiKey;
      return { accountId, keyId, scopes: scopes === null ? null : [...scopes], metadata };
    },
  );

  // Forward auth for proxies in front of services not written in Node: nginx
  // auth_request, Traefik ForwardAuth (any method) and Envoy ext_authz (which
  // appends the original path, hence the wildcard).
  const verifySchema = {
    operationId: 'verifyKey',
    summary: 'Forward auth: 204 with the account and key in headers, or 401/403/429/503',
    description:
      'For nginx `auth_request`, Traefik ForwardAuth and Envoy ext_authz. Reads `x-api-key` and, if the proxy ' +
      'sets it, `x-keyward-required-scopes` (space-separated: the scopes this location needs); on success answers ' +
      '204 with `x-keyward-account-id`, `x-keyward-key-id` and, for a restricted key, `x-keyward-scopes` for the ' +
      'proxy to pass upstream. A key without a required scope: 403 `insufficient_scope`, naming the missing ones. ' +
      "A key over its own or its account's rate limit: 429 `rate_limited`, over the monthly quota: 429 " +
      '`quota_exceeded`, both with `Retry-After`, `RateLimit-Policy` and `RateLimit` for the proxy to pass on.',
    tags: ['data-plane'],
    security: API_KEY_SECURITY,
    headers: Type.Object({
      'x-keyward-required-scopes': Type.Optional(
        Type.String({
          maxLength: 4096,
          description: 'Space-separated scopes the request needs.',
          examples: ['orders:read'],
        }),
      ),
    }),
    response: {
      204: Type.Null({
        description: 'The key is valid and has every required scope.',
        headers: {
          'x-keyward-account-id': Type.String({ format: 'uuid', examples: [EXAMPLE.accountId] }),
          'x-keyward-key-id': Type.String({ examples: [EXAMPLE.keyId] }),
          'x-keyward-scopes': Type.String({
            description: "The key's scopes, space-separated; absent for a key with full access.",
            examples: ['orders:read orders:write'],
          }),
        },
      }),
      ...errors(
        [400, 'invalid_request_header'],
        [401, 'invalid_api_key', 'api_key_revoked', 'api_key_expired'],
        [403, 'insufficient_scope', 'address_not_allowed'],
        [429, 'key_rate_limited', 'quota_exceeded', 'rate_limited'],
        [503, 'auth_unavailable'],
      ),
    },
  };
  const verify = async (request: FastifyRequest, reply: FastifyReply) => {
    const identity = request.apiKey;
    const required = request.headers['x-keyward-required-scopes'];
    if (typeof required === 'string') {
      const missing = missingScopesOf(
        identity,
        required.split(' ').filter((scope) => scope !== ''),
      );
      if (missing.length > 0) throw insufficientScope(missing);
    }
    if (identity.scopes !== null) void reply.header('x-keyward-scopes', identity.scopes.join(' '));
    return reply
      .header('x-keyward-account-id', identity.accountId)
      .header('x-keyward-key-id', identity.keyId)
      .code(204)
      .send();
  };
  app.get('/v1/verify', { config: { apiKey: true }, schema: verifySchema }, verify);
  app.route({
    method: ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: '/v1/verify',
    config: { apiKey: true },
    schema: { hide: true },
    handler: verify,
  });
  app.route({
    method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: '/v1/verify/*',
    config: { apiKey: true },
    schema: { hide: true },
    handler: verify,
  });
};
