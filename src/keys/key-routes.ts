import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errors } from '../http/error-responses.js';
import { EXAMPLE } from '../http/examples.js';
import { KEY_EXAMPLE, KeyIdParams, KeyRef } from './key-schemas.js';
import { SESSION_SECURITY } from '../http/security-schemes.js';
import { actorOf } from '../audit/audit-log.js';
import { MAX_ACTIVE_KEYS, MAX_ACTIVE_KEYS_IN_WORDS } from '../db/active-key-slots.js';
import { MAX_KEY_NAME_LENGTH } from './key-names.js';
import type { KeyService } from './key-lifecycle.js';

const KeyName = Type.String({ minLength: 1, maxLength: MAX_KEY_NAME_LENGTH, pattern: '\\S', examples: ['production'] });
const FullKey = Type.String({
  description: 'The full API key. Shown this once: keyward keeps only a hash of it.',
  examples: [EXAMPLE.apiKey],
});

// Examples: a key just generated, and the same key revoked, or rotated with a day's grace.
const NEW_KEY_EXAMPLE = { ...KEY_EXAMPLE, lastUsedAt: null, requestsLast24h: 0 };
const REVOKED_AT = '2026-03-09T17:05:12.000Z';
const REVOKED_KEY_EXAMPLE = {
  ...KEY_EXAMPLE,
  status: 'revoked',
  revokedAt: REVOKED_AT,
  revocation: { reason: 'revoked', at: REVOKED_AT, leak: null },
};
const ROTATED_KEY_EXAMPLES = {
  key: {
    ...NEW_KEY_EXAMPLE,
    id: EXAMPLE.newKeyId,
    hint: EXAMPLE.newHint,
    name: 'production (rotated 2026-03-09)',
    replacesKeyId: EXAMPLE.keyId,
    createdAt: '2026-03-09T17:00:00.000Z',
  },
  oldKey: { ...KEY_EXAMPLE, expiresAt: '2026-03-10T17:00:00.000Z' },
};

/** Key lifecycle, for the signed-in dashboard user's own account. */
export const keyRoutes: FastifyPluginAsyncTypebox<{ keys: KeyService; maxGraceSeconds: number }> = async (
  app,
  { keys, maxGraceSeconds },
) => {
  app.get(
    '/v1/keys',
    {
      config: { session: true },
      schema: {
        operationId: 'listKeys',
        summary: "List the account's keys, newest first",
        tags: ['keys'],
        security: SESSION_SECURITY,
        response: {
          200: Type.Object(
            {
              keys: Type.Array(KeyRef),
              maxActiveKeys: Type.Integer({ description: 'At most this many keys can be active at once.' }),
            },
            { examples: [{ keys: [ROTATED_KEY_EXAMPLES.key, ROTATED_KEY_EXAMPLES.oldKey], maxActiveKeys: 2 }] },
          ),
          ...errors(401, 503),
        },
      },
    },
    async (request) => ({
      keys: await keys.listKeys(request.sessionUser.accountId),
      maxActiveKeys: MAX_ACTIVE_KEYS,
    }),
  );

  app.post(
    '/v1/keys',
    {
      config: { session: true },
      schema: {
        operationId: 'createKey',
        summary: `Generate a key (at most ${MAX_ACTIVE_KEYS_IN_WORDS} active per account)`,
        description: `Answers 409 \`key_limit_reached\` when ${MAX_ACTIVE_KEYS_IN_WORDS} keys are active: revoke one first.`,
        tags: ['keys'],
        security: SESSION_SECURITY,
        body: Type.Object(
          {
            name: Type.Optional(KeyName),
            expiresInSeconds: Type.Optional(
              Type.Integer({
                minimum: 1,
                maximum: maxGraceSeconds,
                description:
                  'The key stops working this many seconds after it is generated (at most ' +
                  "KEYWARD_MAX_ROTATION_GRACE_SECONDS, as a rotation's grace period). Without it the key works until revoked.",
                examples: [2592000],
              }),
            ),
          },
          {
            additionalProperties: false,
            examples: [{ name: 'production' }],
          },
        ),
        response: {
          201: Type.Object(
            { apiKey: FullKey, key: KeyRef },
            { examples: [{ apiKey: EXAMPLE.apiKey, key: NEW_KEY_EXAMPLE }] },
          ),
          ...errors(400, 401, 403, 409, [503, 'service_unavailable', 'server_busy']),
        },
      },
    },
    async (request, reply) => {
      const { key, view } = await keys.createKey(
        {
          accountId: request.sessionUser.accountId,
          actor: actorOf(request),
          name: request.body.name,
          expiresInSeconds: request.body.expiresInSeconds,
        },
        request.deadline,
      );
      return reply.code(201).send({ apiKey: key, key: view });
    },
  );

  app.patch(
    '/v1/keys/:keyId',
    {
      config: { session: true },
      schema: {
        operationId: 'renameKey',
        summary: 'Rename a key',
        description:
          'Names are labels for people; they need not be unique (the hint tells keys apart). ' +
          'Audited as `key.renamed` with the old and the new name. Revoked and expired keys can be renamed too.',
        tags: ['keys'],
        security: SESSION_SECURITY,
        params: KeyIdParams,
        body: Type.Object(
          { name: KeyName },
          { additionalProperties: false, examples: [{ name: 'production (eu-west-1)' }] },
        ),
        response: {
          200: Type.Object(
            { key: KeyRef },
            { examples: [{ key: { ...KEY_EXAMPLE, name: 'production (eu-west-1)' } }] },
          ),
          ...errors([400, 'invalid_body', 'invalid_key_id'], 401, 403, 404, 503),
        },
      },
    },
    async (request) => ({
      key: await keys.renameKey({
        accountId: request.sessionUser.accountId,
        actor: actorOf(request),
        keyId: request.params.keyId,
        name: request.body.name,
      }),
    }),
  );

  app.delete(
    '/v1/keys/:keyId',
    {
      config: { session: true },
      schema: {
        operationId: 'revokeKey',
        summary: 'Revoke a key, effective immediately',
        description: 'Idempotent: revoking a revoked key answers the same.',
        tags: ['keys'],
        security: SESSION_SECURITY,
        params: KeyIdParams,
        response: {
          200: Type.Object({ key: KeyRef }, { examples: [{ key: REVOKED_KEY_EXAMPLE }] }),
          ...errors([400, 'invalid_key_id'], 401, 403, 404, [503, 'service_unavailable', 'revocation_pending']),
        },
      },
    },
    async (request) => ({
      key: await keys.revokeKey(
        {
          accountId: request.sessionUser.accountId,
          actor: actorOf(request),
          keyId: request.params.keyId,
        },
        request.deadline,
      ),
    }),
  );

  app.post(
    '/v1/keys/:keyId/rotate',
    {
      config: { session: true },
      schema: {
        operationId: 'rotateKey',
        summary: 'Generate the replacement of a key, optionally scheduling the old one to expire',
        description:
          'Without `expireOldKeyInSeconds` both keys stay active until you revoke the old one. ' +
          'With it, the old key stops working after that many seconds (0: at once).',
        tags: ['keys'],
        security: SESSION_SECURITY,
        params: KeyIdParams,
        body: Type.Object(
          {
            name: Type.Optional(KeyName),
            expireOldKeyInSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: maxGraceSeconds })),
          },
          { additionalProperties: false, examples: [{ expireOldKeyInSeconds: 86400 }] },
        ),
        response: {
          201: Type.Object(
            { apiKey: FullKey, key: KeyRef, oldKey: KeyRef },
            { examples: [{ apiKey: EXAMPLE.newApiKey, ...ROTATED_KEY_EXAMPLES }] },
          ),
          ...errors(
            [400, 'invalid_body', 'invalid_key_id'],
            401,
            403,
            404,
            [409, 'key_limit_reached', 'key_not_active', 'rotation_pending'],
            [503, 'service_unavailable', 'revocation_pending', 'server_busy'],
          ),
        },
      },
    },
    async (request, reply) => {
      const result = await keys.rotateKey(
        {
          accountId: request.sessionUser.accountId,
          actor: actorOf(request),
          keyId: request.params.keyId,
          name: request.body.name,
          expireOldKeyInSeconds: request.body.expireOldKeyInSeconds,
        },
        request.deadline,
      );
      return reply.code(201).send({ apiKey: result.key, key: result.view, oldKey: result.oldKey });
    },
  );
};
