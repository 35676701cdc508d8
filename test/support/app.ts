/** The real app in process (Fastify's inject), and what tests do with it: sign up, create a key, call /v1/me. */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Test } from 'tap';
import pino from 'pino';
import { buildApp, LOG_REDACT, type KeywardApp } from '../../src/app/app.js';
import { loadEnv } from '../../src/config/env.js';
import { openRuntime, type Runtime } from '../../src/app/runtime.js';
import { PASSWORD, type SignUpFields } from './http.js';
import { createRedisPrefix, createTestDatabase, TEST_SETTINGS } from './services.js';
import { sleep } from './wait.js';

export interface TestLog {
  lines: string[];
  text(): string;
}

export interface TestApp {
  app: KeywardApp;
  runtime: Runtime;
  /** Every log line the app wrote, for asserting that no secret is logged. */
  log: TestLog;
  databaseUrl?: string;
  redisPrefix?: string;
}

/**
 * Builds the real app. `embedded: true` runs it on in-memory PGlite with the
 * in-process cache and bus, as `npm start` does without DATABASE_URL.
 */
export async function buildTestApp(
  t: Test,
  options: { embedded?: boolean; env?: Record<string, string> } = {},
): Promise<TestApp> {
  const lines: string[] = [];
  const stream = { write: (line: string) => void lines.push(line) };
  const log: TestLog = { lines, text: () => lines.join('') };
  const env: Record<string, string> = {
    ...TEST_SETTINGS,
    KEYWARD_SECRET: randomBytes(32).toString('base64url'),
  };
  let databaseUrl: string | undefined;
  let redisPrefix: string | undefined;
  if (!options.embedded) {
    databaseUrl = await createTestDatabase(t);
    const redis = await createRedisPrefix(t);
    redisPrefix = redis.prefix;
    Object.assign(env, { DATABASE_URL: databaseUrl, REDIS_URL: redis.redisUrl, REDIS_KEY_PREFIX: redis.prefix });
  }
  Object.assign(env, options.env);
  const logger = pino({ level: 'info', redact: LOG_REDACT }, stream);
  const runtime = await openRuntime(loadEnv(env), logger, { skipMigrations: true, inMemory: options.embedded });
  const app = await buildApp(runtime, { level: 'info', redact: LOG_REDACT, stream });
  t.teardown(async () => {
    await app.close();
    await runtime.close();
  });
  await app.ready();
  return { app, runtime, log, databaseUrl, redisPrefix };
}

let emailCounter = 0;

/** POST /v1/signup in process (from `address` when given); the answer as it comes, refusals included. */
export function signUpRequest(
  app: KeywardApp,
  { email, password = PASSWORD, accountName = 'Acme', address }: SignUpFields & { address?: string },
) {
  return app.inject({
    method: 'POST',
    url: '/v1/signup',
    ...(address === undefined ? {} : { remoteAddress: address }),
    payload: { email, password, accountName },
  });
}

/** Signs up a fresh account; returns the session cookie header and ids. */
export async function signUp(app: KeywardApp, name = 'Acme') {
  const email = `user${++emailCounter}-${randomBytes(4).toString('hex')}@example.com`;
  const password = PASSWORD;
  const response = await signUpRequest(app, { email, password, accountName: name });
  if (response.statusCode !== 201) throw new Error(`sign-up failed: ${response.body}`);
  const cookie = response.cookies.find((c) => c.name === 'keyward_session');
  const body = response.json();
  return {
    email,
    password,
    cookie: `keyward_session=${cookie!.value}`,
    accountId: body.account.id as string,
    userId: body.user.id as string,
  };
}

/** Creates a key through the API; returns the full key and its id. */
export async function createKey(app: KeywardApp, cookie: string, name?: string) {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/keys',
    headers: { cookie },
    payload: name ? { name } : {},
  });
  if (response.statusCode !== 201) throw new Error(`create key failed: ${response.statusCode} ${response.body}`);
  const body = response.json();
  return { apiKey: body.apiKey as string, keyId: body.key.id as string };
}

/** DELETE /v1/keys/{keyId}: revokes a key; the answer as it comes. */
export function revokeKey(app: KeywardApp, cookie: string, keyId: string) {
  return app.inject({ method: 'DELETE', url: `/v1/keys/${keyId}`, headers: { cookie } });
}

/** POST /v1/keys/{keyId}/rotate with `payload`; the answer as it comes. */
export function rotateKey(app: KeywardApp, cookie: string, keyId: string, payload: object = {}) {
  return app.inject({ method: 'POST', url: `/v1/keys/${keyId}/rotate`, headers: { cookie }, payload });
}

/** PATCH /v1/keys/{keyId} with `payload` (a new name); the answer as it comes. */
export function renameKey(app: KeywardApp, cookie: string, keyId: string, payload: object) {
  return app.inject({ method: 'PATCH', url: `/v1/keys/${keyId}`, headers: { cookie }, payload });
}

/** POST /v1/webhooks: registers a webhook endpoint at `url`; the answer as it comes. */
export function registerWebhook(app: KeywardApp, cookie: string, url: string) {
  return app.inject({ method: 'POST', url: '/v1/webhooks', headers: { cookie }, payload: { url } });
}

/**
 * GET /v1/me with a key (none when undefined), as a service of the user's calls it: in process through the
 * app's inject, or over HTTP to a server's url (then the status and the parsed body).
 */
export function callMe(app: KeywardApp, apiKey: string | undefined): ReturnType<KeywardApp['inject']>;
export function callMe(server: { url: string }, apiKey: string): Promise<{ status: number; body: unknown }>;
export function callMe(target: KeywardApp | { url: string }, apiKey: string | undefined) {
  const headers: Record<string, string> = apiKey === undefined ? {} : { 'x-api-key': apiKey };
  if ('inject' in target) return target.inject({ method: 'GET', url: '/v1/me', headers });
  return fetch(`${target.url}/v1/me`, { headers }).then(async (response) => ({
    status: response.status,
    body: (await response.json()) as unknown,
  }));
}

export interface CallSample {
  /** performance.now() when the request was sent. */
  sentAt: number;
  status: number;
  code?: string;
}

/**
 * A client that keeps calling /v1/me with `apiKey`, `intervalMs` apart, until
 * `stop()` (or the test's end, or the app closing). `samples` fills as it goes.
 */
export function keepCalling(t: Test, app: KeywardApp, apiKey: string, intervalMs: number) {
  const samples: CallSample[] = [];
  let calling = true;
  const loop = (async () => {
    while (calling) {
      const sentAt = performance.now();
      const response = await callMe(app, apiKey).catch(() => null);
      if (response === null) break; // the app was closed: the test ended early
      samples.push({ sentAt, status: response.statusCode, code: response.json().error?.code });
      await sleep(intervalMs);
    }
  })();
  const stop = () => {
    calling = false;
    return loop;
  };
  t.teardown(stop);
  return { samples, stop };
}
