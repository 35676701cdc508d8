import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { API_KEY_SECURITY, errors } from '../http/schemas.js';

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
          200: Type.Object({ accountId: Type.String({ format: 'uuid' }), keyId: Type.String() }),
          ...errors(401, 429, 503),
        },
      },
    },
    async (request) => request.apiKey,
  );
};
