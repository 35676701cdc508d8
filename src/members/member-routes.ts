import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type {
  MemberCheckAnswer,
  MemberJoin,
  ReserveAnswer,
  UsageBatchBody,
} from '../../packages/member/src/fleet-messages.js';
import { counterName } from '../../packages/member/src/rate-limits.js';
import { MAX_RESERVATION } from '../../packages/member/src/rate-limiter.js';
import type { Database } from '../db/database.js';
import type { Env } from '../config/env.js';
import { MemberCredentialInvalid, NoFleetToJoin } from '../http/errors.js';
import { KeyRefusal } from '../../packages/member/src/refusals.js';
import { MAX_CALLERS_PER_KEY, type KeyChecking } from '../key-check/open-key-checking.js';
import type { AuthenticatedMember, MemberCredentials } from './member-credentials.js';
import { writeMemberUsage } from './member-usage.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route is for fleet members: a member credential in `Authorization: Bearer kwm_…`. */
    member?: boolean;
  }
}

/** A member instance's id: `member.<member id>.<uuid>`, so every registry entry names the credential it came with. */
const INSTANCE_ID_PATTERN = /^member\.([0-9A-Za-z]{16})\.[0-9a-f-]{36}$/;
const BEARER = /^Bearer (\S+)$/i;
const members = new WeakMap<FastifyRequest, AuthenticatedMember>();

const Nonce = Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9A-Za-z._-]+$' });
const Tally = Type.Object({
  requests: Type.Integer({ minimum: 0 }),
  last: Type.Integer({ minimum: 0 }),
  callers: Type.Array(
    Type.Object({
      address: Type.String({ maxLength: 100 }),
      agent: Type.String({ maxLength: 1000 }),
      requests: Type.Integer({ minimum: 0 }),
      firstSeen: Type.Integer({ minimum: 0 }),
      lastSeen: Type.Integer({ minimum: 0 }),
    }),
    { maxItems: MAX_CALLERS_PER_KEY },
  ),
});

export interface MemberRouteOptions {
  env: Env;
  db: Database;
  credentials: MemberCredentials;
  keyChecking: KeyChecking;
}

/**
 * The API of keyward's fleet members (the `@keyward/member` package): join,
 * renew the lease, check a key this process has not cached, send usage. Not
 * part of the public OpenAPI document: members speak it through the package.
 */
export const memberRoutes: FastifyPluginAsyncTypebox<MemberRouteOptions> = async (app, options) => {
  const { env, credentials, keyChecking } = options;
  const hidden = { hide: true } as const;

  app.addHook('onRequest', async (request) => {
    if (!request.routeOptions.config.member) return;
    const header = request.headers.authorization;
    const credential = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
    let member: AuthenticatedMember | null;
    try {
      member = await credentials.authenticate(credential);
    } catch {
      throw new KeyRefusal('KW_AUTH_UNAVAILABLE');
    }
    if (!member) throw new MemberCredentialInvalid();
    members.set(request, member);
    void credentials.seen(member.id).catch(() => {}); // a sighting is a nicety; never fail a member for it
  });
  const memberOf = (request: FastifyRequest) => members.get(request)!;

  app.post(
    '/v1/fleet/join',
    { config: { member: true }, schema: { ...hidden, body: Type.Optional(Type.Object({})) } },
    async (request): Promise<MemberJoin> => {
      const member = memberOf(request);
      const instanceId = `member.${member.id}.${randomUUID()}`;
      return {
        memberId: member.id,
        memberName: member.name,
        instanceId,
        keyPrefix: env.KEYWARD_KEY_PREFIX,
        fleet: keyChecking.fleet.members?.channels(instanceId) ?? null,
        cache: {
          maxKeys: env.KEYWARD_CACHE_MAX_KEYS,
          ttlMs: env.KEYWARD_CACHE_TTL_SECONDS * 1000,
        },
        // Keyward's own wait for Redis, and the round trip to keyward on top of it.
        rateLimitTimeoutMs: 2 * env.KEYWARD_RATE_LIMIT_TIMEOUT_MS + 250,
        usage: env.KEYWARD_USAGE_TRACKING
          ? {
              flushIntervalMs: env.KEYWARD_USAGE_FLUSH_MS,
              maxKeysPerMinute: env.KEYWARD_CACHE_MAX_KEYS,
              maxCallersPerKey: MAX_CALLERS_PER_KEY,
            }
          : null,
      };
    },
  );

  /** The relay, for an instance of the request's own member (a member renews or removes only its own). */
  const relayFor = (request: FastifyRequest, instanceId: string) => {
    const relay = keyChecking.fleet.members;
    if (!relay) throw new NoFleetToJoin();
    if (INSTANCE_ID_PATTERN.exec(instanceId)?.[1] !== memberOf(request).id) throw new MemberCredentialInvalid();
    return relay;
  };
  const InstanceId = Type.String({ maxLength: 100 });

  app.post(
    '/v1/fleet/heartbeat',
    { config: { member: true }, schema: { ...hidden, body: Type.Object({ instanceId: InstanceId, nonce: Nonce }) } },
    async (request, reply) => {
      const { instanceId, nonce } = request.body;
      const relay = relayFor(request, instanceId);
      await relay.renew(instanceId, nonce).catch(() => {
        throw new KeyRefusal('KW_AUTH_UNAVAILABLE');
      });
      return reply.code(204).send();
    },
  );

  app.post(
    '/v1/fleet/leave',
    { config: { member: true }, schema: { ...hidden, body: Type.Object({ instanceId: InstanceId }) } },
    async (request, reply) => {
      const { instanceId } = request.body;
      await relayFor(request, instanceId)
        .leave(instanceId)
        .catch(() => {
          throw new KeyRefusal('KW_AUTH_UNAVAILABLE');
        });
      return reply.code(204).send();
    },
  );

  app.post(
    '/v1/fleet/check',
    {
      config: { member: true },
      schema: {
        ...hidden,
        body: Type.Object({
          key: Type.String({ maxLength: 200 }),
          clientAddress: Type.String({ maxLength: 100 }),
          /** The member holds this key's digest already: no guess, so a limited client is still checked. */
          secretProven: Type.Optional(Type.Boolean()),
        }),
      },
    },
    async (request): Promise<MemberCheckAnswer> => {
      const { key, clientAddress, secretProven = false } = request.body;
      const { checker, failedChecks } = keyChecking;
      const now = Date.now();
      const retryAfterMs = failedChecks.retryAfterMs(clientAddress, now);
      const limited = () => ({ outcome: 'limited' as const, retryAfterSeconds: Math.ceil(retryAfterMs / 1000) });
      // A member that lied about a proven secret gains nothing: a wrong key is counted as a failure all the same.
      const result = await checker.check(key, now, retryAfterMs > 0 && !secretProven);
      switch (result.outcome) {
        case 'valid':
        case 'revoked':
        case 'expired':
          return {
            outcome: result.outcome,
            accountId: result.accountId,
            keyId: result.keyId,
            expiresAt: result.expiresAt,
            ...(result.restriction === null
              ? {}
              : {
                  restriction: {
                    scopes: result.restriction.scopes,
                    allowedNetworks: result.restriction.allowedNetworks,
                    metadata: result.restriction.metadata,
                    rateLimit: result.restriction.rateLimit,
                  },
                  ...(result.restriction.accountLimits === null
                    ? {}
                    : { accountLimits: result.restriction.accountLimits }),
                }),
          };
        case 'limited':
          return limited();
        case 'invalid':
          if (result.tier === 'format') return { outcome: 'invalid' };
          if (retryAfterMs > 0) return limited();
          failedChecks.recordFailure(clientAddress, now);
          return { outcome: 'invalid' };
        default:
          throw new KeyRefusal('KW_AUTH_UNAVAILABLE');
      }
    },
  );

  // Rate-limit budget for a member's batches: keyward decides the counts from the key's limits as it knows
  // them, so a member can ask for budget but never name a count or a limit.
  app.post(
    '/v1/fleet/reserve',
    {
      config: { member: true },
      schema: {
        ...hidden,
        body: Type.Object({
          keyId: Type.String({ pattern: '^[0-9A-Za-z]{16}$' }),
          wants: Type.Array(
            Type.Object({
              kind: Type.Union([Type.Literal('key'), Type.Literal('account'), Type.Literal('quota')]),
              want: Type.Integer({ minimum: 1, maximum: MAX_RESERVATION }),
            }),
            { minItems: 1, maxItems: 3 },
          ),
        }),
      },
    },
    async (request): Promise<ReserveAnswer> => {
      const { keyId, wants } = request.body;
      const known = await keyChecking.checker.limitsOf(keyId).catch(() => {
        throw new KeyRefusal('KW_AUTH_UNAVAILABLE');
      });
      const limits = known?.limits ?? null;
      const now = Date.now();
      const asked = wants.map(({ kind, want }) => {
        if (known === null || limits === null) return null;
        const limit = kind === 'key' ? limits.key : kind === 'account' ? limits.account : limits.monthlyQuota;
        if (limit === null) return null;
        const subject = kind === 'key' ? keyId : known.accountId;
        const { name, resetAt } = counterName(kind, subject, typeof limit === 'number' ? 'month' : limit, now);
        const requests = typeof limit === 'number' ? limit : limit.requests;
        return { kind, name, limit: requests, want, resetAt, accountId: known.accountId };
      });
      const counted = asked.filter((request) => request !== null);
      const reserved =
        counted.length === 0
          ? { grants: [], fleetSize: 1 }
          : await keyChecking.rateLimits.reserve(keyId, counted).catch(() => {
              throw new KeyRefusal('KW_AUTH_UNAVAILABLE'); // the member admits its share meanwhile
            });
      let next = 0;
      return {
        grants: asked.map((request, index) =>
          request === null ? { granted: wants[index]!.want, used: 0 } : reserved.grants[next++]!,
        ),
        fleetSize: reserved.fleetSize,
      };
    },
  );

  app.post(
    '/v1/fleet/usage',
    {
      config: { member: true },
      bodyLimit: 4 * 1024 * 1024,
      schema: {
        ...hidden,
        body: Type.Object({
          batchId: Type.String({ format: 'uuid' }),
          minutes: Type.Array(
            Type.Object({
              minute: Type.Integer({ minimum: 0 }),
              keys: Type.Array(
                Type.Object({ keyId: Type.String({ maxLength: 64 }), accepted: Tally, rejected: Tally }),
              ),
            }),
            { maxItems: 1000 },
          ),
        }),
      },
    },
    async (request) => {
      try {
        return await writeMemberUsage(options.db, env, request.body satisfies UsageBatchBody);
      } catch {
        throw new KeyRefusal('KW_AUTH_UNAVAILABLE');
      }
    },
  );
};
