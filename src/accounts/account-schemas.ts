import { Type } from '@sinclair/typebox';
import { MAX_EMAIL_LENGTH } from '../db/columns.js';
import { EXAMPLE } from '../http/examples.js';
import { Nullable } from '../http/json-types.js';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from './password-policy.js';

/** A password being set (sign-up, password change): its rules are ./password-policy.ts. */
export const NewPassword = Type.String({
  maxLength: PASSWORD_MAX_LENGTH,
  description:
    `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters (Unicode code points), used exactly as ` +
    'sent (never trimmed). No composition rules; refused with 400 weak_password when it is only spaces, ' +
    'repeats or sequences ("aaaaaaaaaa", "1234567890"), one of the 20,000 most common passwords (also ' +
    'with a few digits or symbols added, or in leetspeak), or built on the email, the account name or ' +
    '"keyward". The message says which.',
});

/** The body of POST /v1/signup; also what `keyward create-account` checks its arguments against. */
export const SignUpBody = Type.Object(
  {
    email: Type.String({ format: 'email', maxLength: MAX_EMAIL_LENGTH, examples: ['ada@example.com'] }),
    password: NewPassword,
    accountName: Type.String({ minLength: 1, maxLength: 100, pattern: '\\S', examples: ['Acme Inc.'] }),
  },
  {
    additionalProperties: false,
    examples: [{ email: EXAMPLE.email, password: 'correct horse battery', accountName: EXAMPLE.accountName }],
  },
);

/** A session as sign-up and sign-in answer it, for examples. */
export const SESSION_EXAMPLE = {
  user: { id: EXAMPLE.userId, email: EXAMPLE.email },
  account: { id: EXAMPLE.accountId, name: EXAMPLE.accountName },
  expiresAt: '2026-03-02T21:30:00.000Z',
};

export const Session = Type.Object(
  {
    user: Type.Object({ id: Type.String({ format: 'uuid' }), email: Type.String() }),
    account: Type.Object({ id: Type.String({ format: 'uuid' }), name: Type.String() }),
    expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { $id: 'Session', title: 'Session', examples: [SESSION_EXAMPLE] },
);
export const SessionRef = Type.Ref(Session.$id!, { examples: [SESSION_EXAMPLE] });

/** One session of the signed-in user, as GET /v1/account/sessions lists it. */
export const SESSION_SUMMARY_EXAMPLE = {
  id: '3f9a1c0e7b2d4a68',
  createdAt: '2026-02-23T21:30:00.000Z',
  expiresAt: '2026-03-02T21:30:00.000Z',
  userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Safari/605.1.15',
  clientAddress: '203.0.113.7',
  current: true,
};

export const SessionSummary = Type.Object(
  {
    id: Type.String({ description: 'Names the session in DELETE /v1/account/sessions/{sessionId}; not its token.' }),
    createdAt: Type.String({ format: 'date-time', description: 'When it signed in.' }),
    expiresAt: Type.String({ format: 'date-time' }),
    userAgent: Nullable(Type.String(), { description: 'The browser that signed in.' }),
    clientAddress: Nullable(Type.String(), { description: 'The address it signed in from.' }),
    current: Type.Boolean({ description: 'Whether this is the session making the request.' }),
  },
  { additionalProperties: false },
);
