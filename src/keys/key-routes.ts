import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errors } from '../http/error-responses.js';
import { EXAMPLE } from '../http/examples.js';
import {
  AllowedNetworks,
  KEY_EXAMPLE,
  KeyIdParams,
  KeyMetadata,
  KeyRateLimit,
  KeyRef,
  KeyScopes,
} from './key-schemas.js';
import { Nullable } from '../http/json-types.js';
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
/** A key's restriction as a body sets it: each field optional (absent: unchanged, or none for a new key). */
const RESTRICTION_FIELDS = {
  scopes: Type.Optional(KeyScopes),
  allowedNetworks: Type.Optional(AllowedNetworks),
  metadata: Type.Optional(KeyMetadata),
  rateLimit: Type.Optional(KeyRateLimit),
};

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
export const keyRoutes: FastifyPluginAsyncTypebox<{
  keys: KeyService;
  maxGraceSeconds: number;
  usageFlushIntervalMs: number;
}> = async (app, { keys, maxGraceSeconds, usageFlushIntervalMs }) => {
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
              usageFlushIntervalMs: Type.Integer({
                description:
                  "How often instances write their usage counts (KEYWARD_USAGE_FLUSH_MS): a key's `lastUsedAt` and " +
                  '`requestsLast24h` can lag its requests by up to about this long.',
              }),
            },
            {
              examples: [
                {
                  keys: [ROTATED_KEY_EXAMPLES.key, ROTATED_KEY_EXAMPLES.oldKey],
                  maxActiveKeys: 2,
                  usageFlushIntervalMs: 10_000,
                },
              ],
            },
          ),
          ...errors(401, 503),
        },
      },
    },
    async (request) => ({
      keys: await keys.listKeys(request.sessionUser.accountId),
      maxActiveKeys: MAX_ACTIVE_KEYS,
      usageFlushIntervalMs,
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
            ...RESTRICTION_FIELDS,
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
          ...errors(
            [400, 'invalid_body', 'unknown_scope', 'invalid_network', 'rate_limit_above_account'],
            401,
            403,
            409,
            [503, 'service_unavailable', 'server_busy'],
          ),
        },
      },
    },
    async (request, reply) => {
      const { key, view } = await keys.createKey(
        { ...request.body, accountId: request.sessionUser.accountId, actor: actorOf(request) },
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
        operationId: 'updateKey',
        summary: 'Rename a key, or change its scopes, allowed networks or metadata, effective immediately',
        description:
          'Names are labels for people; they need not be unique (the hint tells keys apart); revoked and expired ' +
          'keys can be renamed too. A change of scopes, allowed networks or metadata (active keys only, else 409 ' +
          '`key_not_active`) is told to every instance like a revocation: when this call returns, every instance ' +
          'enforces the new value. Audited as `key.renamed` and `key.updated` (what changed, before and after).',
        tags: ['keys'],
        security: SESSION_SECURITY,
        params: KeyIdParams,
        body: Type.Object(
          { name: Type.Optional(KeyName), ...RESTRICTION_FIELDS },
          {
            additionalProperties: false,
            minProperties: 1,
            examples: [{ name: 'production (eu-west-1)' }],
          },
        ),
        response: {
          200: Type.Object(
            { key: KeyRef },
            { examples: [{ key: { ...KEY_EXAMPLE, name: 'production (eu-west-1)' } }] },
          ),
          ...errors(
            [400, 'invalid_body', 'invalid_key_id', 'unknown_scope', 'invalid_network', 'rate_limit_above_account'],
            401,
            403,
            404,
            [409, 'key_not_active'],
            [503, 'service_unavailable', 'revocation_pending'],
          ),
        },
      },
    },
    async (request) => ({
      key: await keys.updateKey(
        {
          ...request.body,
          accountId: request.sessionUser.accountId,
          actor: actorOf(request),
          keyId: request.params.keyId,
        },
        request.deadline,
      ),
    }),
  );

  app.get(
    '/v1/scopes',
    {
      config: { session: true },
      schema: {
        operationId: 'listScopes',
        summary: "The deployment's scope catalogue (KEYWARD_SCOPES_FILE), or null when scopes are free-form",
        tags: ['keys'],
        security: SESSION_SECURITY,
        response: {
          200: Type.Object(
            {
              scopes: Nullable(Type.Array(Type.Object({ name: Type.String(), description: Type.String() }))),
            },
            { examples: [{ scopes: [{ name: 'orders:read', description: 'Read orders' }] }, { scopes: null }] },
          ),
          ...errors(401, 503),
        },
      },
    },
    async () => ({
      scopes:
        keys.scopeCatalogue === null
          ? null
          : [...keys.scopeCatalogue].map(([name, description]) => ({ name, description })),
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
            // Absent: the new key keeps the old key's value.
            ...RESTRICTION_FIELDS,
          },
          { additionalProperties: false, examples: [{ expireOldKeyInSeconds: 86400 }] },
        ),
        response: {
          201: Type.Object(
            { apiKey: FullKey, key: KeyRef, oldKey: KeyRef },
            { examples: [{ apiKey: EXAMPLE.newApiKey, ...ROTATED_KEY_EXAMPLES }] },
          ),
          ...errors(
            [400, 'invalid_body', 'invalid_key_id', 'unknown_scope', 'invalid_network', 'rate_limit_above_account'],
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
          ...request.body,
          accountId: request.sessionUser.accountId,
          actor: actorOf(request),
          keyId: request.params.keyId,
        },
        request.deadline,
      );
      return reply.code(201).send({ apiKey: result.key, key: result.view, oldKey: result.oldKey });
    },
  );
};
