import { Type, type TSchema } from '@sinclair/typebox';
import { KEY_ID_PATTERN } from '../keys/key-format.js';

export const ErrorEnvelope = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable machine-readable code (see README).', examples: ['key_limit_reached'] }),
      message: Type.String({ description: 'Plain-language explanation for people.' }),
      requestId: Type.String({ description: 'Quote this when reporting a problem.' }),
    }),
  },
  { $id: 'ErrorEnvelope', title: 'ErrorEnvelope', description: 'Every error keyward returns.' },
);

const errorRef = Type.Ref(ErrorEnvelope.$id!);

/** Error responses a route can give, by status, all in the one envelope. */
export function errors(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((status) => [status, errorRef]));
}

export const KeyIdParams = Type.Object({
  keyId: Type.String({ pattern: KEY_ID_PATTERN, description: 'The key id (16 base62 characters).' }),
});

export const Key = Type.Object(
  {
    id: Type.String({ examples: ['4ZbQ0cXw9LmT2pVa'] }),
    name: Type.String(),
    hint: Type.String({ description: 'Prefix, id and last 4 characters; never the secret.' }),
    status: Type.Union([Type.Literal('active'), Type.Literal('revoked'), Type.Literal('expired')]),
    createdAt: Type.String({ format: 'date-time' }),
    createdBy: Type.Union([Type.String(), Type.Null()], { description: 'Email of the user who created it.' }),
    expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'When a rotation scheduled this key to stop working.',
    }),
    revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'Latest request with this key, as of the last usage flush (every KEYWARD_USAGE_FLUSH_MS).',
    }),
    requestsLast24h: Type.Integer({ minimum: 0, description: 'Requests in the last 24 hours, as flushed.' }),
  },
  { $id: 'Key', title: 'Key' },
);
export const KeyRef = Type.Ref(Key.$id!);

export const Session = Type.Object(
  {
    user: Type.Object({ id: Type.String({ format: 'uuid' }), email: Type.String() }),
    account: Type.Object({ id: Type.String({ format: 'uuid' }), name: Type.String() }),
    expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { $id: 'Session', title: 'Session' },
);
export const SessionRef = Type.Ref(Session.$id!);

/** Schemas registered with `addSchema`, so OpenAPI shows them as named components. */
export const sharedSchemas = [ErrorEnvelope, Key, Session];

export const API_KEY_SECURITY = [{ apiKey: [] }];
export const SESSION_SECURITY = [{ sessionCookie: [] }];
