import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { createAuthenticator, openCore } from '../core.js';
import type { ApiKeyIdentity } from '../library/api-key-checker.js';
import { connectionEnv, type KeywardConnection } from '../library/connection.js';

/** keyward's check as a callback-style Fastify hook. */
export type VerifyApiKey = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

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
    verifyApiKey: VerifyApiKey;
  }
}

/** A check's answer: the caller, or a refusal (a 401/429/503 error, with `retryAfterSeconds` on 429). */
type Authentication = ApiKeyIdentity | (Error & { retryAfterSeconds?: number });

/** The per-request decision, as keyward's ApiKeyAuthenticator makes it; a cache hit answers synchronously. */
export interface RequestAuthenticator {
  authenticate(
    headerValue: unknown,
    clientAddress: string,
    userAgent: string | undefined,
  ): Authentication | Promise<Authentication>;
}

/**
 * The connection to keyward's Postgres and Redis (any service of the fleet), or an authenticator
 * over key checking opened already (keyward's own server, which shares it with its routes).
 */
export type ApiKeyAuthOptions = KeywardConnection | { authenticator: RequestAuthenticator };

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

async function openAuthenticator(app: FastifyInstance, options: ApiKeyAuthOptions): Promise<RequestAuthenticator> {
  if ('authenticator' in options) return options.authenticator;
  const core = await openCore(connectionEnv(options), app.log, { serverSecret: options.secret });
  app.addHook('onClose', () => core.close());
  return createAuthenticator(core.keyChecking);
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
    const authenticator = await openAuthenticator(app, options);

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
      if (!(result instanceof Error)) {
        request[identitySlot] = result;
        return done();
      }
      if (result.retryAfterSeconds !== undefined) void reply.header('retry-after', result.retryAfterSeconds);
      done(result);
    }

    const verifyApiKey: VerifyApiKey = (request, reply, done) => {
      if (request[identitySlot]) return done(); // checked already (config and a route hook both ask)
      const result = authenticator.authenticate(
        request.headers['x-api-key'],
        request.ip,
        request.headers['user-agent'],
      );
      // A rejection (an authenticator that throws) fails the request rather than leaving it waiting.
      if (result instanceof Promise) result.then((settled) => finish(request, reply, settled, done), done);
      else finish(request, reply, result, done);
    };
    app.decorate('verifyApiKey', verifyApiKey);

    app.addHook('onRequest', function checkKeyRoutes(request, reply, done) {
      // Any truthy value asks for a key: a route configured from plain JavaScript fails closed too.
      if (!request.routeOptions.config.apiKey) return done();
      verifyApiKey(request, reply, done);
    });
  },
  { name: 'keyward-api-key-auth', fastify: '5.x' },
);
