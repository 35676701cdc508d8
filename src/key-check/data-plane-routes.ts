import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors, type ErrorExample } from '../http/error-responses.js';
import { EXAMPLE } from '../http/examples.js';
import { API_KEY_SECURITY } from '../http/security-schemes.js';

/** Every way a key check can fail, for the examples. */
const KEY_CHECK_ERRORS = [
  [401, 'invalid_api_key', 'api_key_revoked', 'api_key_expired'],
  [429, 'rate_limited'],
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
            { accountId: Type.String({ format: 'uuid' }), keyId: Type.String() },
            { examples: [{ accountId: EXAMPLE.accountId, keyId: EXAMPLE.keyId }] },
          ),
          ...errors(...KEY_CHECK_ERRORS),
        },
      },
    },
    async (request) => request.apiKey,
  );

  // Forward auth for proxies in front of services not written in Node: nginx
  // auth_request, Traefik ForwardAuth (any method) and Envoy ext_authz (which
  // appends the original path, hence the wildcard).
  const verifySchema = {
    operationId: 'verifyKey',
    summary: 'Forward auth: 204 with the account and key in headers, or 401/429/503',
    description:
      'For nginx `auth_request`, Traefik ForwardAuth and Envoy ext_authz. Reads `x-api-key`; on success answers ' +
      '204 with `x-keyward-account-id` and `x-keyward-key-id` for the proxy to pass upstream.',
    tags: ['data-plane'],
    security: API_KEY_SECURITY,
    response: {
      204: Type.Null({
        description: 'The key is valid.',
        headers: {
          'x-keyward-account-id': Type.String({ format: 'uuid', examples: [EXAMPLE.accountId] }),
          'x-keyward-key-id': Type.String({ examples: [EXAMPLE.keyId] }),
        },
      }),
      ...errors(...KEY_CHECK_ERRORS),
    },
  };
  const verify = async (request: FastifyRequest, reply: FastifyReply) => {
    return reply
      .header('x-keyward-account-id', request.apiKey.accountId)
      .header('x-keyward-key-id', request.apiKey.keyId)
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
