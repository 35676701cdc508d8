/**
 * `@keyward/member/fastify`: keyward's key check for Fastify services.
 *
 *   app.register(apiKeyAuth, { keywardUrl, credential, redisUrl });   // on the root instance, awaited or not
 *   app.get('/orders', { config: { apiKey: true } }, (request) => request.apiKey.accountId);
 *   app.get('/invoices', { config: { apiKey: { scopes: ['invoices:read'] } } }, handler);   // 403 without the scope
 *   app.get('/reports', { onRequest: app.auth([app.verifyApiKey]) }, handler);   // with @fastify/auth
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { openApiKeyChecker, type MemberOptions } from './api-key-checker.js';
import { missingScopesOf, type ApiKeyIdentity } from './key-restriction.js';
import { insufficientScope, refusalEnvelope, refusalHeaders, type RefusalLike } from './refusals.js';

/** keyward's check as a callback-style Fastify hook: on a refusal it passes the error on (for @fastify/auth). */
export type VerifyApiKey = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

/** Where the identity of a checked request is kept; `request.apiKey` and {@link getApiKey} read it. */
const identitySlot = Symbol('keyward.apiKey');

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route needs a valid key in `x-api-key` (with `scopes`: a key that has each of them, else 403
     * `insufficient_scope`); its handler reads `request.apiKey`.
     */
    apiKey?: boolean | { scopes?: readonly string[] };
  }
  interface FastifyRequest {
    /**
     * The caller's account and key, on a route whose key was checked
     * (`config: { apiKey: true }`, or `app.verifyApiKey` in its hooks).
     * Reading it anywhere else throws; {@link getApiKey} never does.
     */
    readonly apiKey: ApiKeyIdentity;
    [identitySlot]: ApiKeyIdentity | null | undefined;
  }
  interface FastifyInstance {
    /** keyward's check, for a route's own `onRequest` or `app.auth([app.verifyApiKey])` with @fastify/auth. */
    verifyApiKey: VerifyApiKey;
  }
}

/** The caller of a request whose key was checked, or undefined (not checked, or another strategy won). */
export function getApiKey(request: FastifyRequest): ApiKeyIdentity | undefined {
  return request[identitySlot] ?? undefined;
}

type Refusal = Error & RefusalLike;

/** What decides a request: a checker of this package, or keyward's own server's (which shares its tiers). */
export interface RequestChecker {
  check(
    headerValue: unknown,
    clientAddress: string,
    userAgent: string | undefined,
  ): ApiKeyIdentity | Refusal | Promise<ApiKeyIdentity | Refusal>;
}

/** The member's options (the plugin opens a checker and closes it with the app), or a checker opened already. */
export type ApiKeyAuthOptions = MemberOptions | { checker: RequestChecker };

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

const NO_SCOPES: readonly string[] = [];

/** The scopes the route's config asks of a key (`config: { apiKey: { scopes } }`). */
function requiredScopes(request: FastifyRequest): readonly string[] {
  const asked = request.routeOptions.config.apiKey;
  return typeof asked === 'object' && asked !== null && Array.isArray(asked.scopes) ? asked.scopes : NO_SCOPES;
}

/** keyward's refusal in keyward's error envelope, the same body as keyward's own API and the Express middleware. */
function refuse(request: FastifyRequest, reply: FastifyReply, refusal: Refusal): void {
  refusalHeaders(refusal, (name, value) => void reply.header(name, value));
  void reply
    .code(refusal.statusCode ?? 401)
    .type('application/json; charset=utf-8')
    .send(refusalEnvelope(refusal, request.id));
}

/**
 * Checks `x-api-key` on every route whose config says `apiKey: true`, whatever
 * the order in which routes, child plugins and this plugin are registered:
 * one root `onRequest` hook decides per request from the route's config.
 * (A hook added per route in `onRoute` only sees routes declared after the
 * plugin has loaded, so a route declared earlier was served with no check.)
 * Hooks are callback-style so that a cache hit completes synchronously.
 */
async function keywardApiKeyAuth(app: FastifyInstance, options: ApiKeyAuthOptions): Promise<void> {
  assertRootInstance(app);
  let checker: RequestChecker;
  if ('checker' in options) {
    checker = options.checker;
  } else {
    const opened = await openApiKeyChecker(options);
    app.addHook('onClose', () => opened.close());
    checker = opened;
  }

  app.decorateRequest(identitySlot, null);
  app.decorateRequest('apiKey', {
    getter(this: FastifyRequest): ApiKeyIdentity {
      const identity = this[identitySlot];
      if (!identity) {
        throw new Error(
          `keyward: request.apiKey read on ${this.method} ${this.routeOptions.url ?? this.url}, a route that checks no key ` +
            '(give it config: { apiKey: true } or onRequest: app.verifyApiKey; getApiKey(request) reads it without throwing)',
        );
      }
      return identity;
    },
  });

  /** Runs the check; `onRefusal` decides what a refusal does. A rejecting checker fails the request. */
  function decide(request: FastifyRequest, done: HookHandlerDoneFunction, onRefusal: (refusal: Refusal) => void): void {
    const finish = (result: ApiKeyIdentity | Refusal) => {
      if (result instanceof Error) return onRefusal(result);
      const missing = missingScopesOf(result, requiredScopes(request));
      if (missing.length > 0) return onRefusal(insufficientScope(missing));
      request[identitySlot] = result;
      done();
    };
    const result = checker.check(request.headers['x-api-key'], request.ip, request.headers['user-agent']);
    if (result instanceof Promise) result.then(finish, done);
    else finish(result);
  }

  const verifyApiKey: VerifyApiKey = (request, reply, done) => {
    if (request[identitySlot]) return done(); // checked already (config and a route hook both ask)
    decide(request, done, (refusal) => {
      refusalHeaders(refusal, (name, value) => void reply.header(name, value));
      done(refusal);
    });
  };
  app.decorate('verifyApiKey', verifyApiKey);

  app.addHook('onRequest', function checkKeyRoutes(request, reply, done) {
    // Any truthy value asks for a key: a route configured from plain JavaScript fails closed too.
    if (!request.routeOptions.config.apiKey || request[identitySlot]) return done();
    decide(request, done, (refusal) => refuse(request, reply, refusal));
  });
}

// What fastify-plugin would set, without the dependency: the hooks and decorators reach the whole app.
Object.assign(keywardApiKeyAuth, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'keyward-api-key-auth',
  [Symbol.for('plugin-meta')]: { name: 'keyward-api-key-auth', fastify: '5.x' },
});

export const apiKeyAuth = keywardApiKeyAuth;
export * from './index.js';
