import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { CsrfRejected, SessionRequired } from '../errors.js';
import type { AccountService, NewSession, SessionUser } from '../services/accounts.js';

export const SESSION_COOKIE = 'keyward_session';

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
      return this.setCookie(SESSION_COOKIE, session.token, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: options.cookieSecure,
        expires: session.expiresAt,
      });
    });
    app.decorateReply('clearSessionCookie', function (this: FastifyReply) {
      return this.clearCookie(SESSION_COOKIE, {
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
