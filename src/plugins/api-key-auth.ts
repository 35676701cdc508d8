import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { ApiKeyExpired, ApiKeyRevoked, AuthUnavailable, InvalidApiKey, TooManyFailedChecks } from '../errors.js';
import type { KeyCheck } from '../key-check/key-checker.js';
import type { KeyChecking } from '../key-check/key-checking.js';

export interface ApiKeyIdentity {
  accountId: string;
  keyId: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route needs a valid key in `x-api-key`; its handler reads `request.apiKey`. */
    apiKey?: boolean;
  }
  interface FastifyRequest {
    /** The caller's account and key, on routes with `config: { apiKey: true }`. */
    apiKey: ApiKeyIdentity;
  }
}

export interface ApiKeyAuthOptions {
  keyChecking: KeyChecking;
}

/**
 * Routes opt in with `config: { apiKey: true }`; only those pay for the
 * check. The hook is callback-style so that a cache hit completes
 * synchronously, with no promise on the hot path.
 */
export const apiKeyAuth = fp<ApiKeyAuthOptions>(
  async (app: FastifyInstance, { keyChecking }) => {
    const { checker, failedChecks } = keyChecking;
    app.decorateRequest('apiKey', null as unknown as ApiKeyIdentity);

    function finish(request: FastifyRequest, result: KeyCheck, done: HookHandlerDoneFunction): void {
      if (result.outcome === 'valid') {
        request.apiKey = { accountId: result.accountId, keyId: result.keyId };
        return done();
      }
      if (result.outcome === 'unavailable') return done(new AuthUnavailable());
      failedChecks.recordFailure(request.ip, Date.now());
      if (result.outcome === 'revoked') return done(new ApiKeyRevoked());
      if (result.outcome === 'expired') return done(new ApiKeyExpired());
      return done(new InvalidApiKey());
    }

    function requireApiKey(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
      const retryAfterMs = failedChecks.retryAfterMs(request.ip, Date.now());
      if (retryAfterMs > 0) {
        void reply.header('retry-after', Math.ceil(retryAfterMs / 1000));
        return done(new TooManyFailedChecks());
      }
      const result = checker.check(request.headers['x-api-key']);
      if (result instanceof Promise) {
        result.then(
          (settled) => finish(request, settled, done),
          () => done(new AuthUnavailable()),
        );
      } else {
        finish(request, result, done);
      }
    }

    app.addHook('onRoute', (route) => {
      if (route.config?.apiKey) route.onRequest = [requireApiKey, ...[route.onRequest ?? []].flat()];
    });
  },
  { name: 'keyward-api-key-auth' },
);
