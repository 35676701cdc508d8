import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { CsrfRejected, SessionRequired } from '../http/errors.js';
import type { AccountService, NewSession, SessionUser } from './accounts.js';

/** The session cookie's name, as every reader of `request.cookies` finds it (see `HOST_PREFIXED_SESSION_COOKIE`). */
export const SESSION_COOKIE = 'keyward_session';
/**
 * The name the cookie is set under when it is Secure. `__Host-` makes browsers refuse it unless it is Secure,
 * for path `/` and without a Domain, so a sibling subdomain (or a network attacker over plain HTTP) cannot
 * plant a session cookie of its own ("cookie tossing", session fixation).
 */
export const HOST_PREFIXED_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route needs a signed-in dashboard user (session cookie). */
    session?: boolean;
    /** Check the Origin of state-changing requests even without a session (sign-in, sign-up). */
    csrf?: boolean;
  }
  interface FastifyRequest {
    /** The signed-in dashboard user on routes with `config: { session: true }`. */
    sessionUser: SessionUser;
    sessionToken: string;
  }
}

export interface SessionAuthOptions {
  accounts: AccountService;
  cookieSecure: boolean;
  /** The dashboard's origin; unset: the request's own scheme and Host. */
  publicOrigin?: string;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Dashboard sessions: an HttpOnly, SameSite=Strict cookie, plus an Origin
 * check on every state change so that a cross-site form or fetch is refused
 * even by a browser that ignores SameSite.
 */
export const sessionAuth = fp<SessionAuthOptions>(
  async (app: FastifyInstance, options) => {
    app.decorateRequest('sessionUser', null as unknown as SessionUser);
    app.decorateRequest('sessionToken', '');

    const cookieName = options.cookieSecure ? HOST_PREFIXED_SESSION_COOKIE : SESSION_COOKIE;
    if (options.cookieSecure) {
      // Readers (here and the dashboard) look for SESSION_COOKIE: with a Secure cookie it holds the __Host-
      // cookie's value only, and an unprefixed one, which anyone could have planted, is ignored.
      app.addHook('onRequest', (request, _reply, done) => {
        const token = request.cookies[HOST_PREFIXED_SESSION_COOKIE];
        if (token === undefined) delete request.cookies[SESSION_COOKIE];
        else request.cookies[SESSION_COOKIE] = token;
        done();
      });
    }

    function checkOrigin(request: FastifyRequest): void {
      if (SAFE_METHODS.has(request.method)) return;
      const origin = request.headers.origin;
      if (origin !== undefined) {
        const expected = options.publicOrigin ?? `${request.protocol}://${request.host}`;
        if (origin !== expected) throw new CsrfRejected();
        return;
      }
      // No Origin: a non-browser client, or a browser that tells us where the request came from.
      const site = request.headers['sec-fetch-site'];
      if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new CsrfRejected();
    }

    async function requireSession(request: FastifyRequest): Promise<void> {
      checkOrigin(request);
      const token = request.cookies[SESSION_COOKIE];
      const user = token ? await options.accounts.findSession(token) : null;
      if (!token || !user) throw new SessionRequired();
      request.sessionUser = user;
      request.sessionToken = token;
    }

    // Account and key responses (a new key above all) must never sit in a browser or proxy cache.
    async function noStore(_request: FastifyRequest, reply: FastifyReply): Promise<void> {
      void reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff');
    }

    app.addHook('onRoute', (route) => {
      const config = route.config;
      if (config?.session || config?.csrf) route.onRequest = [noStore, ...[route.onRequest ?? []].flat()];
      if (config?.session) {
        route.preHandler = [requireSession, ...[route.preHandler ?? []].flat()];
      } else if (config?.csrf) {
        route.preHandler = [
          async (request: FastifyRequest) => checkOrigin(request),
          ...[route.preHandler ?? []].flat(),
        ];
      }
    });

    app.decorateReply('setSessionCookie', function (this: FastifyReply, session: NewSession) {
      return this.setCookie(cookieName, session.token, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: options.cookieSecure,
        expires: session.expiresAt,
      });
    });
    app.decorateReply('clearSessionCookie', function (this: FastifyReply) {
      return this.clearCookie(cookieName, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: options.cookieSecure,
      });
    });
  },
  { name: 'keyward-session-auth', dependencies: ['@fastify/cookie'] },
);

declare module 'fastify' {
  interface FastifyReply {
    setSessionCookie(session: NewSession): FastifyReply;
    clearSessionCookie(): FastifyReply;
  }
}
