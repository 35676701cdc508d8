import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { SESSION_COOKIE } from './session-auth.js';

export const OPENAPI_INFO = {
  title: 'keyward',
  version: '0.1.0',
  description:
    'API keys for horizontally scaled API fleets: at most two active keys per account for zero-downtime ' +
    'rotation, and revocation that is effective on every instance before the call returns.',
};

/** Generates the OpenAPI 3.1 document from the routes' own schemas. */
export const openapi = fp(
  async (app: FastifyInstance) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: OPENAPI_INFO,
        tags: [
          { name: 'account', description: 'Sign-up and dashboard sessions' },
          { name: 'keys', description: 'Key lifecycle (dashboard session)' },
          { name: 'data-plane', description: 'Calls authenticated by an API key' },
        ],
        components: {
          securitySchemes: {
            apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
            sessionCookie: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
          },
        },
      },
      refResolver: {
        buildLocalReference: (json, _baseUri, _fragment, index) =>
          typeof json.$id === 'string' ? json.$id : `def-${index}`,
      },
    });
  },
  { name: 'keyward-openapi' },
);
