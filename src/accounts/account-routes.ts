import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AccountService, NewSession } from './accounts.js';
import { actorOf, clientOf } from '../audit/audit-log.js';
import { MAX_EMAIL_LENGTH } from '../db/columns.js';
import { errors } from '../http/error-responses.js';
import { EXAMPLE } from '../http/examples.js';
import {
  NewPassword,
  Session,
  SESSION_EXAMPLE,
  SESSION_SUMMARY_EXAMPLE,
  SessionRef,
  SessionSummary,
  SignUpBody,
} from './account-schemas.js';
import { SESSION_SECURITY } from '../http/security-schemes.js';
import { WeakPassword } from '../http/errors.js';
import { passwordProblem } from './password-policy.js';

// A sequence: refused before the list of common passwords is read, so building the document never reads it.
const WEAK_PASSWORD_EXAMPLE = new WeakPassword(passwordProblem('1234567890')!);

function sessionBody(session: NewSession) {
  return {
    user: { id: session.user.userId, email: session.user.email },
    account: { id: session.user.accountId, name: session.user.accountName },
    expiresAt: session.expiresAt.toISOString(),
  };
}

/** Sign-up, sign-in, sign-out and the current session. */
export const accountRoutes: FastifyPluginAsyncTypebox<{ accounts: AccountService }> = async (app, { accounts }) => {
  app.post(
    '/v1/signup',
    {
      config: { csrf: true },
      schema: {
        operationId: 'signUp',
        summary: 'Create an account and its first user, and sign in',
        tags: ['account'],
        body: SignUpBody,
        response: {
          201: SessionRef,
          ...errors(
            [400, WEAK_PASSWORD_EXAMPLE, 'invalid_body'],
            [403, 'csrf_rejected', 'signup_closed'],
            [409, 'email_taken'],
            [429, 'sign_up_limited'],
            [503, 'service_unavailable', 'server_busy'],
          ),
        },
      },
    },
    async (request, reply) => {
      const session = await accounts.signUp(request.body, clientOf(request), request.deadline);
      return reply.setSessionCookie(session).code(201).send(sessionBody(session));
    },
  );

  app.post(
    '/v1/login',
    {
      config: { csrf: true },
      schema: {
        operationId: 'logIn',
        summary: 'Sign in to the dashboard (sets the session cookie)',
        tags: ['account'],
        body: Type.Object(
          { email: Type.String({ maxLength: MAX_EMAIL_LENGTH }), password: Type.String({ maxLength: 256 }) },
          { additionalProperties: false, examples: [{ email: EXAMPLE.email, password: 'correct horse battery' }] },
        ),
        response: {
          200: SessionRef,
          ...errors(
            400,
            [401, 'invalid_credentials'],
            403,
            [429, 'sign_in_limited'],
            [503, 'service_unavailable', 'server_busy'],
          ),
        },
      },
    },
    async (request, reply) => {
      const session = await accounts.logIn(request.body, clientOf(request));
      return reply.setSessionCookie(session).send(sessionBody(session));
    },
  );

  app.post(
    '/v1/logout',
    {
      config: { session: true },
      schema: {
        operationId: 'logOut',
        summary: 'End the current dashboard session',
        tags: ['account'],
        security: SESSION_SECURITY,
        response: { 204: Type.Null({ description: 'Signed out.' }), ...errors(401, 403, 503) },
      },
    },
    async (request, reply) => {
      await accounts.logOut(request.sessionToken, actorOf(request), request.sessionUser.accountId);
      return reply.clearSessionCookie().code(204).send();
    },
  );

  app.post(
    '/v1/account/password',
    {
      config: { session: true },
      schema: {
        operationId: 'changePassword',
        summary: "Change the signed-in user's password",
        description:
          'Needs the current password (a wrong one answers 403 `wrong_password` and counts as a failed sign-in, ' +
          'under the same limits). The new password follows the sign-up rules (400 `weak_password` says which it breaks). Every other session of the user ' +
          'ends; this one stays signed in. Audited as `password.changed`.',
        tags: ['account'],
        security: SESSION_SECURITY,
        body: Type.Object(
          // The same rules as sign-up: one schema and one policy, so the two cannot drift apart.
          { currentPassword: Type.String({ minLength: 1, maxLength: 256 }), newPassword: NewPassword },
          {
            additionalProperties: false,
            examples: [{ currentPassword: 'correct horse battery', newPassword: 'a longer passphrase than before' }],
          },
        ),
        response: {
          200: Type.Object(
            {
              otherSessionsEnded: Type.Integer({
                minimum: 0,
                description: 'Sessions of this user that were signed out (not this one).',
              }),
            },
            { examples: [{ otherSessionsEnded: 2 }] },
          ),
          ...errors(
            [400, WEAK_PASSWORD_EXAMPLE, 'invalid_body'],
            401,
            [403, 'wrong_password', 'csrf_rejected'],
            [429, 'sign_in_limited'],
            [503, 'service_unavailable', 'server_busy'],
          ),
        },
      },
    },
    async (request) =>
      accounts.changePassword(
        {
          token: request.sessionToken,
          user: request.sessionUser,
          currentPassword: request.body.currentPassword,
          newPassword: request.body.newPassword,
        },
        actorOf(request),
      ),
  );

  app.delete(
    '/v1/sessions/others',
    {
      config: { session: true },
      schema: {
        operationId: 'endOtherSessions',
        summary: 'Sign out of every other session of the signed-in user',
        description: 'This session stays signed in. Audited as `session.others_ended`.',
        tags: ['account'],
        security: SESSION_SECURITY,
        response: {
          200: Type.Object(
            { sessionsEnded: Type.Integer({ minimum: 0, description: 'Sessions signed out.' }) },
            { examples: [{ sessionsEnded: 3 }] },
          ),
          ...errors(401, 403, 503),
        },
      },
    },
    async (request) => accounts.endOtherSessions(request.sessionToken, request.sessionUser, actorOf(request)),
  );

  app.get(
    '/v1/account/sessions',
    {
      config: { session: true },
      schema: {
        operationId: 'listSessions',
        summary: "The signed-in user's sessions: where they are signed in",
        description:
          'Sessions that have not expired, oldest first; `current` marks the one making this request. ' +
          'The user agent and address are those of the sign-in (null for sessions older than this list).',
        tags: ['account'],
        security: SESSION_SECURITY,
        response: {
          200: Type.Object(
            { sessions: Type.Array(SessionSummary) },
            { examples: [{ sessions: [SESSION_SUMMARY_EXAMPLE] }] },
          ),
          ...errors(401, 503),
        },
      },
    },
    async (request) => {
      const list = await accounts.listSessions(request.sessionToken, request.sessionUser);
      return {
        sessions: list.map((session) => ({
          ...session,
          createdAt: session.createdAt.toISOString(),
          expiresAt: session.expiresAt.toISOString(),
        })),
      };
    },
  );

  app.delete(
    '/v1/account/sessions/:sessionId',
    {
      config: { session: true },
      schema: {
        operationId: 'endSession',
        summary: 'Sign out one session of the signed-in user',
        description:
          'The id is one from `GET /v1/account/sessions`. Ending the current session signs out like ' +
          '`POST /v1/logout` (the cookie is cleared). Audited as `session.ended`.',
        tags: ['account'],
        security: SESSION_SECURITY,
        params: Type.Object({
          sessionId: Type.String({
            pattern: '^[0-9a-f]{16}$',
            description: 'A session id from GET /v1/account/sessions.',
            examples: [SESSION_SUMMARY_EXAMPLE.id],
          }),
        }),
        response: {
          204: Type.Null({ description: 'Signed out.' }),
          ...errors([400, 'invalid_session_id'], 401, 403, [404, 'session_not_found'], 503),
        },
      },
    },
    async (request, reply) => {
      const { current } = await accounts.endSession(
        request.sessionToken,
        request.sessionUser,
        request.params.sessionId,
        actorOf(request),
      );
      if (current) void reply.clearSessionCookie();
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/session',
    {
      config: { session: true },
      schema: {
        operationId: 'getSession',
        summary: 'The signed-in user and account',
        tags: ['account'],
        security: SESSION_SECURITY,
        response: {
          // Without expiresAt: the session's expiry is only told when it starts.
          200: Type.Ref(Session.$id!, {
            examples: [{ user: SESSION_EXAMPLE.user, account: SESSION_EXAMPLE.account }],
          }),
          ...errors(401, 503),
        },
      },
    },
    async (request) => ({
      user: { id: request.sessionUser.userId, email: request.sessionUser.email },
      account: { id: request.sessionUser.accountId, name: request.sessionUser.accountName },
    }),
  );
};
