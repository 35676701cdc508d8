import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiKeyExpired, ApiKeyRevoked, InvalidApiKey } from '../errors.js';
import type { KeyVerifier } from '../services/key-verifier.js';

export interface ApiKeyIdentity {
  accountId: string;
  keyId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's account and key on routes with `config.auth: 'apiKey'`. */
    apiKey: ApiKeyIdentity;
  }
}

export interface ApiKeyAuthOptions {
  keyVerifier: KeyVerifier;
}

/**
 * Routes opt in with `config: { auth: 'apiKey' }`; only those pay for the
 * check, and their handlers read `request.apiKey`.
 */
export const apiKeyAuth = fp<ApiKeyAuthOptions>(
  async (app: FastifyInstance, options) => {
    app.decorateRequest('apiKey', null as unknown as ApiKeyIdentity);

    async function requireApiKey(request: FastifyRequest): Promise<void> {
      const header = request.headers['x-api-key'];
      const result = await options.keyVerifier.verify(header);
      switch (result.outcome) {
        case 'valid':
          request.apiKey = { accountId: result.accountId, keyId: result.keyId };
          return;
        case 'revoked':
          throw new ApiKeyRevoked();
        case 'expired':
          throw new ApiKeyExpired();
        default:
          throw new InvalidApiKey();
      }
    }

    app.addHook('onRoute', (route) => {
      if (route.config?.auth === 'apiKey') {
        route.onRequest = [requireApiKey, ...[route.onRequest ?? []].flat()];
      }
    });
  },
  { name: 'keyward-api-key-auth' },
);
