import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { actorOf, WEBHOOK_EVENT_TYPES } from '../audit/audit-log.js';
import { errors } from '../http/error-responses.js';
import { EXAMPLE } from '../http/examples.js';
import { SESSION_SECURITY } from '../http/security-schemes.js';
import type { WebhookService } from './webhook-endpoints.js';
import { Nullable, ScalarOrNull, StringEnum } from '../http/json-types.js';

/** A date-time in the document; the services hand Dates, which Fastify's serializer writes as ISO strings. */
const DateTime = (options: { description?: string } = {}) =>
  Type.Unsafe<Date | string>({ type: 'string', format: 'date-time', ...options });
const NullableDateTime = (options: { description?: string } = {}) => Nullable(DateTime(), options);

const WEBHOOK_ID = '7d1e3c9a-2b4f-4e6a-9c8d-0f1a2b3c4d5e';
const ENDPOINT_EXAMPLE = {
  id: WEBHOOK_ID,
  url: 'https://hooks.example.com/keyward',
  createdAt: '2026-03-02T09:45:00.000Z',
  createdBy: EXAMPLE.email,
};
const SECRET_EXAMPLE = 'whsec_RVhBTVBMRW9ubHlub3RhcmVhbHNpZ25pbmdzZWNyZXQ=';
const DELIVERY_EXAMPLE = {
  id: '2c6f0a1e-8d4b-4f3a-b5e7-9a0c1d2e3f40',
  messageId: 'msg_5b3e8f1a2c4d4e6f8a0b1c2d3e4f5a6b',
  eventType: 'key.revoked',
  status: 'delivered',
  createdAt: '2026-03-09T17:05:12.000Z',
  nextAttemptAt: null,
  endedAt: '2026-03-09T17:05:18.000Z',
  payload: {
    type: 'key.revoked',
    timestamp: '2026-03-09T17:05:12.000Z',
    data: { keyId: EXAMPLE.keyId, keyHint: EXAMPLE.hint, accountId: EXAMPLE.accountId, reason: 'user' },
  },
  attempts: [
    {
      attemptedAt: '2026-03-09T17:05:12.300Z',
      durationMs: 10000,
      statusCode: null,
      error: 'timeout: no answer within 10000 ms',
      retryAt: '2026-03-09T17:05:17.100Z',
    },
    { attemptedAt: '2026-03-09T17:05:17.200Z', durationMs: 84, statusCode: 200, error: null, retryAt: null },
  ],
};

const WebhookEndpoint = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    url: Type.String({ examples: [ENDPOINT_EXAMPLE.url] }),
    createdAt: DateTime(),
    createdBy: Nullable(Type.String(), { description: 'Email of the user who added it.' }),
  },
  { examples: [ENDPOINT_EXAMPLE] },
);

const WebhookAttempt = Type.Object({
  attemptedAt: DateTime(),
  durationMs: Type.Integer({ minimum: 0 }),
  statusCode: Nullable(Type.Integer(), {
    description: "The receiver's HTTP status; null: no answer.",
  }),
  error: Nullable(Type.String(), { description: 'Why there was no answer (timeout, refused…).' }),
  retryAt: NullableDateTime({
    description: 'When the next attempt was scheduled; null when this was the last.',
  }),
});

const WebhookDelivery = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    messageId: Type.String({ description: 'The `webhook-id` header: the same on every retry.' }),
    eventType: StringEnum(WEBHOOK_EVENT_TYPES),
    status: StringEnum(['pending', 'delivered', 'failed'], {
      description: 'failed: no attempt got a 2xx within KEYWARD_WEBHOOK_MAX_AGE_SECONDS.',
    }),
    createdAt: DateTime(),
    nextAttemptAt: NullableDateTime(),
    endedAt: NullableDateTime(),
    payload: Type.Object(
      {
        type: Type.String(),
        timestamp: DateTime(),
        data: Type.Record(Type.String(), ScalarOrNull),
      },
      { description: 'The JSON body sent (names the key by id and hint, never the key).' },
    ),
    attempts: Type.Array(WebhookAttempt, { description: 'Every attempt, oldest first.' }),
  },
  { examples: [DELIVERY_EXAMPLE] },
);

const WebhookIdParams = Type.Object({
  webhookId: Type.String({ format: 'uuid', description: 'The webhook endpoint id.', examples: [WEBHOOK_ID] }),
});

/** Webhook endpoints of the signed-in user's account (issue #14). */
export const webhookRoutes: FastifyPluginAsyncTypebox<{ webhooks: WebhookService; maxEndpoints: number }> = async (
  app,
  { webhooks, maxEndpoints },
) => {
  app.get(
    '/v1/webhooks',
    {
      config: { session: true },
      schema: {
        operationId: 'listWebhooks',
        summary: "List the account's webhook endpoints, newest first",
        tags: ['webhooks'],
        security: SESSION_SECURITY,
        response: {
          200: Type.Object(
            {
              webhooks: Type.Array(WebhookEndpoint),
              maxWebhooks: Type.Integer({ description: 'At most this many endpoints per account.' }),
            },
            { examples: [{ webhooks: [ENDPOINT_EXAMPLE], maxWebhooks: 10 }] },
          ),
          ...errors(401, 503),
        },
      },
    },
    async (request) => ({
      webhooks: await webhooks.listEndpoints(request.sessionUser.accountId),
      maxWebhooks: maxEndpoints,
    }),
  );

  app.post(
    '/v1/webhooks',
    {
      config: { session: true },
      schema: {
        operationId: 'createWebhook',
        summary: 'Add a webhook endpoint; its signing secret is in this response only',
        description:
          'Every key change of the account (key.created, key.rotated, key.expiry_scheduled, key.revoked, ' +
          'key.leaked) is POSTed to the URL, signed as Standard Webhooks specify. The URL must be https and ' +
          'resolve to public addresses only (unless the deployment allows private networks).',
        tags: ['webhooks'],
        security: SESSION_SECURITY,
        body: Type.Object(
          { url: Type.String({ minLength: 1, maxLength: 2000, examples: [ENDPOINT_EXAMPLE.url] }) },
          { additionalProperties: false, examples: [{ url: ENDPOINT_EXAMPLE.url }] },
        ),
        response: {
          201: Type.Object(
            {
              secret: Type.String({
                description:
                  'The signing secret (`whsec_` + base64). Shown this once; verify deliveries with it, e.g. ' +
                  "with the `standardwebhooks` package's `new Webhook(secret).verify(body, headers)`.",
                examples: [SECRET_EXAMPLE],
              }),
              webhook: WebhookEndpoint,
            },
            { examples: [{ secret: SECRET_EXAMPLE, webhook: ENDPOINT_EXAMPLE }] },
          ),
          ...errors(
            [400, 'webhook_url_refused', 'webhook_url_not_https', 'invalid_body'],
            401,
            403,
            [409, 'webhook_limit_reached'],
            503,
          ),
        },
      },
    },
    async (request, reply) => {
      const { secret, endpoint } = await webhooks.createEndpoint(
        { accountId: request.sessionUser.accountId, actor: actorOf(request), url: request.body.url },
        request.deadline,
      );
      return reply.code(201).send({ secret, webhook: endpoint });
    },
  );

  app.delete(
    '/v1/webhooks/:webhookId',
    {
      config: { session: true },
      schema: {
        operationId: 'deleteWebhook',
        summary: 'Delete a webhook endpoint; its pending deliveries are never sent',
        tags: ['webhooks'],
        security: SESSION_SECURITY,
        params: WebhookIdParams,
        response: {
          204: Type.Null({ description: 'Deleted.' }),
          ...errors([400, 'invalid_webhook_id'], 401, 403, [404, 'webhook_not_found'], 503),
        },
      },
    },
    async (request, reply) => {
      await webhooks.deleteEndpoint(
        { accountId: request.sessionUser.accountId, actor: actorOf(request), id: request.params.webhookId },
        request.deadline,
      );
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/webhooks/:webhookId/deliveries',
    {
      config: { session: true },
      schema: {
        operationId: 'listWebhookDeliveries',
        summary: "An endpoint's latest deliveries, newest first, with every attempt",
        tags: ['webhooks'],
        security: SESSION_SECURITY,
        params: WebhookIdParams,
        querystring: Type.Object(
          { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(
            { deliveries: Type.Array(WebhookDelivery) },
            { examples: [{ deliveries: [DELIVERY_EXAMPLE] }] },
          ),
          ...errors([400, 'invalid_webhook_id', 'invalid_query'], 401, [404, 'webhook_not_found'], 503),
        },
      },
    },
    async (request) => ({
      deliveries: await webhooks.listDeliveries(
        request.sessionUser.accountId,
        request.params.webhookId,
        request.query.limit ?? 20,
      ),
    }),
  );
};
