import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { createAuthenticator, openCore } from '../core.js';
import {
  isRefusal,
  type ApiKeyIdentity,
  type Authentication,
  type KeyCheckCounter,
} from '../key-check/api-key-authenticator.js';
import type { KeyChecking } from '../key-check/key-checking.js';
import { connectionEnv, type KeywardConnection } from '../library/connection.js';

export type { ApiKeyIdentity };

/** Where the identity of a checked request is kept; `request.apiKey` reads it. */
const identitySlot = Symbol('keyward.apiKey');

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route needs a valid key in `x-api-key`; its handler reads `request.apiKey`. */
    apiKey?: boolean;
  }
  interface FastifyRequest {
    /**
     * The caller's account and key, on a route whose key was checked
     * (`config: { apiKey: true }`, or `app.verifyApiKey` in its hooks).
     * Reading it anywhere else throws: a route that checks no key has no caller.
     */
    readonly apiKey: ApiKeyIdentity;
    /** null, or undefined on requests of a context created before the plugin loaded: not checked. */
    [identitySlot]: ApiKeyIdentity | null | undefined;
  }
  interface FastifyInstance {
    /**
     * keyward's check as a callback-style hook, for a route's own `onRequest`
     * or `onRequest: app.auth([app.verifyApiKey])` with @fastify/auth.
     */
    verifyApiKey(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void;
  }
}

/** Either keyward's own open key checking (its server) or the connection to open it (any other service). */
export type ApiKeyAuthOptions = { keyChecking: KeyChecking; metrics?: KeyCheckCounter } | KeywardConnection;

/** Refuses a registration that would leave routes outside its reach unchecked. */
function assertRootInstance(app: FastifyInstance): void {
  // Every encapsulated context is created with Object.create(parent); only the root instance is a plain object.
  if (Object.getPrototypeOf(app) !== Object.prototype) {
    throw new Error(
      'keyward: register apiKeyAuth on the root Fastify instance, not inside an encapsulated plugin: ' +
        'there it could not check routes declared outside that plugin, and a route asking for a key must never be served without one.',
    );
  }
}

async function openKeyChecking(app: FastifyInstance, options: ApiKeyAuthOptions): Promise<KeyChecking> {
  if ('keyChecking' in options) return options.keyChecking;
  const core = await openCore(connectionEnv(options), app.log, { serverSecret: options.secret });
  app.addHook('onClose', () => core.close());
  return core.keyChecking;
}

/**
 * Checks `x-api-key` on every route whose config says `apiKey: true`, whatever
 * the order in which routes, child plugins and this plugin are registered:
 * one root `onRequest` hook decides per request from the route's config.
 * (A hook added per route in `onRoute` only sees routes declared after the
 * plugin has loaded, so a route declared earlier, or after an un-awaited
 * `register`, was served with no check at all.)
 *
 * Hooks are callback-style so that a cache hit completes synchronously, with
 * no promise on the hot path.
 */
export const apiKeyAuth = fp<ApiKeyAuthOptions>(
  async (app: FastifyInstance, options) => {
    assertRootInstance(app);
    const keyChecking = await openKeyChecking(app, options);
    const authenticator = createAuthenticator(keyChecking, 'metrics' in options ? options.metrics : undefined);

    app.decorateRequest(identitySlot, null);
    app.decorateRequest('apiKey', {
      getter(this: FastifyRequest): ApiKeyIdentity {
        const identity = this[identitySlot];
        if (!identity) {
          throw new Error(
            `keyward: request.apiKey read on ${this.method} ${this.routeOptions.url ?? this.url}, a route that checks no key ` +
              '(give it config: { apiKey: true } or onRequest: app.verifyApiKey)',
          );
        }
        return identity;
      },
    });

    function finish(
      request: FastifyRequest,
      reply: FastifyReply,
      result: Authentication,
      done: HookHandlerDoneFunction,
    ): void {
      if (!isRefusal(result)) {
        request[identitySlot] = result;
        return done();
      }
      if (result.retryAfterSeconds !== undefined) void reply.header('retry-after', result.retryAfterSeconds);
      done(result);
    }

    function verifyApiKey(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
      if (request[identitySlot]) return done(); // checked already (config and a route hook both ask)
      const result = authenticator.authenticate(
        request.headers['x-api-key'],
        request.ip,
        request.headers['user-agent'],
      );
      if (result instanceof Promise) result.then((settled) => finish(request, reply, settled, done));
      else finish(request, reply, result, done);
    }
    app.decorate('verifyApiKey', verifyApiKey);

    app.addHook('onRequest', function checkKeyRoutes(request, reply, done) {
      // Any truthy value asks for a key: a route configured from plain JavaScript fails closed too.
      if (!request.routeOptions.config.apiKey) return done();
      verifyApiKey(request, reply, done);
    });
  },
  { name: 'keyward-api-key-auth', fastify: '5.x' },
);
