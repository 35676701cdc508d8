import { randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyReply, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import { createAuthenticator } from './core.js';
import { dashboard } from '../dashboard/dashboard-plugin.js';
import { errorEnvelope, GENERIC_CODES, InvalidRequest } from '../http/errors.js';
import { REQUEST_ID_PATTERN } from '../../packages/member/src/refusals.js';
import { sharedSchemas } from './openapi-plugin.js';
import { requestLogSerializer } from '../http/log-redaction.js';
import { QuietDashboardPolling } from '../http/request-logging.js';
import { answerClientError, answerUnknownExpectation } from '../http/raw-answers.js';
import { httpServerOptions } from '../http/server-options.js';
import { hasLoneSurrogate, hostHeaderProblem, validatorCompiler } from '../http/validation.js';
import { apiKeyAuth } from '../../packages/member/src/fastify.js';
import { errorHandler } from '../http/error-handler.js';
import { metricsPlugin } from '../metrics/metrics-plugin.js';
import { managementDeadline } from '../http/management-deadline.js';
import { openapi } from './openapi-plugin.js';
import { sessionAuth } from '../accounts/session-auth.js';
import { accountRoutes } from '../accounts/account-routes.js';
import { dataPlaneRoutes } from '../key-check/data-plane-routes.js';
import { memberRoutes } from '../members/member-routes.js';
import { healthRoutes } from './health-routes.js';
import { keyRoutes } from '../keys/key-routes.js';
import { limitRoutes } from '../rate-limits/limit-routes.js';
import { secretScanningRoutes } from '../leaks/secret-scanning-routes.js';
import { usageRoutes } from '../usage/usage-routes.js';
import { auditRoutes } from '../audit/audit-routes.js';
import { webhookRoutes } from '../webhooks/webhook-routes.js';
import type { Runtime } from './runtime.js';
import { githubKeysUrl } from '../config/env.js';
import { GitHubPublicKeys } from '../leaks/github-public-keys.js';
import { LeakedKeyReports } from '../leaks/leaked-key-reports.js';

/** Largest request body keyward accepts; its largest legitimate body is well under 1 KiB. */
export const BODY_LIMIT_BYTES = 16 * 1024;

/** Log options shared by the server and tests: secrets never reach the log. */
export const LOG_REDACT = [
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'req.headers.authorization',
  'res.headers["set-cookie"]',
];

/**
 * Trust the nearest `hops` addresses of the chain (the socket's peer first), as the operator declared
 * with KEYWARD_TRUSTED_PROXY_HOPS. Not `trustProxy: hops`: Fastify 5.12 turns a number into "trust
 * nothing", since a count alone cannot tell a proxy from a direct client; here the operator vouches
 * that every connection comes through that many proxies (README, Configuration).
 */
function trustHops(hops: number) {
  return (_address: string, hop: number) => hop < hops;
}

/**
 * The logger with the request serializer that keeps credentials in URLs out of the log: options (Fastify
 * builds the logger, e.g. in tests) or the process's one pino logger (src/serve.ts, shared with the runtime).
 */
function redactingLogger(
  logger: FastifyServerOptions['logger'] | Logger,
  keyPrefix: string,
): Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> {
  const req = requestLogSerializer(keyPrefix);
  if (isLogger(logger)) return { loggerInstance: logger.child({}, { serializers: { req } }) };
  if (typeof logger !== 'object') return { logger };
  return { logger: { ...logger, serializers: { ...logger.serializers, req } } };
}

function isLogger(logger: unknown): logger is Logger {
  return typeof (logger as Logger | undefined)?.child === 'function';
}

export async function buildApp(runtime: Runtime, logger: FastifyServerOptions['logger'] | Logger = false) {
  const app = Fastify({
    ...redactingLogger(logger, runtime.env.KEYWARD_KEY_PREFIX),
    // In development the dashboard's polling is logged at debug (LOG_LEVEL=debug shows it); in production
    // every request stays in the log at info.
    ...(runtime.env.NODE_ENV === 'production' ? {} : { logController: new QuietDashboardPolling() }),
    bodyLimit: BODY_LIMIT_BYTES,
    // Behind N load balancers, the client address is the Nth from the right in X-Forwarded-For.
    // (false when there are none: request.ip is then the socket address, with no per-request parsing).
    trustProxy: runtime.env.KEYWARD_TRUSTED_PROXY_HOPS > 0 ? trustHops(runtime.env.KEYWARD_TRUSTED_PROXY_HOPS) : false,
    // Honour a caller's X-Request-Id when it is sane, so logs line up across the fleet.
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    },
    // Malformed URLs and over-long path parameters fail in the router, before the error handler.
    frameworkErrors: (error, request, reply) => {
      const status = error.statusCode ?? 400;
      const code = GENERIC_CODES[status] ?? 'invalid_request';
      void (reply as FastifyReply)
        .code(status)
        .header('x-request-id', request.id)
        .send(errorEnvelope(code, error.message, request.id));
    },
    clientErrorHandler: answerClientError,
    ...httpServerOptions(runtime.env),
    // Fastify's own wording, except that an unknown property is named: "body must NOT have additional
    // properties" alone leaves the caller guessing which one.
    schemaErrorFormatter: (errors, dataVar) =>
      new Error(
        errors
          .map((error) =>
            error.keyword === 'additionalProperties'
              ? `${dataVar}${error.instancePath} must NOT have additional property '${String(error.params.additionalProperty)}'`
              : `${dataVar}${error.instancePath} ${error.message}`,
          )
          .join(', '),
      ),
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.server.maxConnections = runtime.env.KEYWARD_HTTP_MAX_CONNECTIONS;
  app.server.on('checkExpectation', answerUnknownExpectation);
  app.setValidatorCompiler(validatorCompiler());
  // Callback-style hooks: they run on every request, and an async one costs a promise each time.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    const hostProblem = hostHeaderProblem(request.raw);
    if (hostProblem !== undefined) return done(new InvalidRequest(hostProblem));
    done();
  });
  // Every body is JSON: without this parser a text/plain body would reach the schema instead of a 415.
  app.removeContentTypeParser('text/plain');
  app.addHook('preValidation', (request, _reply, done) => {
    // A POST with no body (e.g. "generate a key" with no name) validates as an empty object.
    if (request.body === undefined && request.method === 'POST') request.body = {};
    else if (hasLoneSurrogate(request.body)) {
      return done(new InvalidRequest('The request body contains a lone UTF-16 surrogate (such as \\ud800).'));
    }
    done();
  });
  for (const schema of sharedSchemas) app.addSchema(schema);

  await app.register(errorHandler);
  await app.register(managementDeadline, { timeoutMs: runtime.env.KEYWARD_REQUEST_TIMEOUT_MS });
  await app.register(openapi);
  await app.register(cookie);
  await app.register(sessionAuth, {
    accounts: runtime.accounts,
    cookieSecure: runtime.cookieSecure,
    publicOrigin: runtime.env.KEYWARD_PUBLIC_ORIGIN,
  });
  await app.register(metricsPlugin, { metrics: runtime.metrics, token: runtime.env.KEYWARD_METRICS_TOKEN });
  const authenticator = createAuthenticator(runtime.keyChecking, runtime.metrics);
  await app.register(apiKeyAuth, { checker: { check: (...request) => authenticator.authenticate(...request) } });

  await app.register(accountRoutes, { accounts: runtime.accounts });
  await app.register(keyRoutes, {
    keys: runtime.keys,
    maxGraceSeconds: runtime.env.KEYWARD_MAX_ROTATION_GRACE_SECONDS,
    usageFlushIntervalMs: runtime.env.KEYWARD_USAGE_FLUSH_MS,
  });
  await app.register(limitRoutes, { limits: runtime.limits });
  await app.register(usageRoutes, {
    keys: runtime.keys,
    usageReport: runtime.usageReport,
    maxMinutes: runtime.env.KEYWARD_USAGE_MINUTE_RETENTION_HOURS * 60,
    maxHours: runtime.env.KEYWARD_USAGE_RETENTION_DAYS * 24,
  });
  await app.register(auditRoutes, { auditLog: runtime.auditLog });
  await app.register(webhookRoutes, {
    webhooks: runtime.webhooks,
    maxEndpoints: runtime.env.KEYWARD_WEBHOOK_MAX_ENDPOINTS,
  });
  await app.register(dataPlaneRoutes);
  await app.register(memberRoutes, {
    env: runtime.env,
    db: runtime.database.db,
    credentials: runtime.members,
    keyChecking: runtime.keyChecking,
  });
  // Off unless configured: an unconfigured deployment answers 404 there, like any unknown route.
  const keysUrl = githubKeysUrl(runtime.env);
  await app.register(secretScanningRoutes, {
    github:
      keysUrl === undefined
        ? undefined
        : {
            publicKeys: new GitHubPublicKeys({
              url: keysUrl,
              token: runtime.env.KEYWARD_GITHUB_TOKEN,
              cacheMs: runtime.env.KEYWARD_GITHUB_KEYS_CACHE_SECONDS * 1000,
              refetchIntervalMs: runtime.env.KEYWARD_GITHUB_KEYS_REFETCH_INTERVAL_SECONDS * 1000,
              timeoutMs: runtime.env.KEYWARD_GITHUB_KEYS_TIMEOUT_MS,
              log: app.log,
            }),
            reports: new LeakedKeyReports(runtime.keys, runtime.env.KEYWARD_KEY_PREFIX),
          },
  });
  await app.register(healthRoutes, {
    db: runtime.database.db,
    fleet: runtime.keyChecking.fleet,
    rateLimits: runtime.keyChecking.rateLimits,
    timeoutMs: runtime.env.KEYWARD_DATABASE_TIMEOUT_MS,
    isShuttingDown: () => runtime.shuttingDown,
  });
  await app.register(dashboard, { accounts: runtime.accounts });
  return app;
}

export type KeywardApp = Awaited<ReturnType<typeof buildApp>>;
