/**
 * 4. Revocation propagation: N keyward instances (src/server.ts) as separate
 * processes on one Postgres and Redis. For each revocation: a fresh key,
 * accepted on every instance, is polled on every instance over a kept-alive
 * connection (one request at a time per instance); it is revoked through one
 * instance (a different one each time). Per instance: the time from the revoke
 * call to the first rejection, and the requests accepted after the revoke call
 * returned (must be 0).
 */
import { performance } from 'node:perf_hooks';
import { headerValues, HttpConnection, type HttpResponse } from '../lib/http-connection.js';
import { startKeyward, type RunningServer } from '../lib/servers.js';
import { median, percentile, summarize, type Summary } from '../lib/stats.js';
import { sleep } from '../lib/util.js';
import { REDIS_URL } from '../lib/environment.js';
import type { BenchContext } from './context.js';

export interface RevocationResult {
  instances: number;
  revocations: number;
  /**
   * Revoke call sent → first rejection received, per instance and revocation, ms
   * (an upper bound: the instance stopped accepting somewhere before).
   */
  firstRejectionMs: Summary & { p99: number };
  /** The same for the instance that handled the revoke call (it applies the change as soon as it committed). */
  revokerFirstRejectionMs: Summary;
  /** Other instances' first rejection after the revoker's: the propagation through Redis proper, ms. */
  afterRevokerMs: Summary & { p99: number };
  /** Duration of the revoke call (DELETE /v1/keys/{id}), ms. */
  revokeCallMs: Summary & { p99: number };
  /**
   * The two figures above without each instance's first revocation (code paths and statements not yet run
   * in that process): what a fleet that has been serving for a while sees.
   */
  warm?: { firstRejectionMs: Summary & { p99: number }; revokeCallMs: Summary & { p99: number } };
  /** Requests sent after the revoke call returned that were accepted, all instances and revocations (must be 0). */
  acceptedAfterReturn: number;
  /** Requests accepted while the revoke call was in flight (allowed: the call had not returned). */
  acceptedDuringCall: number;
  /** Answers other than 200/401 (must be 0). */
  unexpectedStatuses: Record<string, number>;
  /** Median gap between consecutive polls of one instance, ms: the resolution of the timings above. */
  pollGapMs: number;
  totalPolls: number;
  instanceStartMs: number[];
}

interface Poll {
  sentAt: number;
  receivedAt: number;
  status: number;
}

/**
 * Each instance is polled about this often (one request at a time). Polling
 * flat out would saturate both cores with 4 servers and their clients, and
 * measure CPU queueing rather than propagation.
 */
const POLL_INTERVAL_MS = 1;
/** Bounds each revocation's polling, whatever happens. */
const MAX_POLL_MS = 5000;
const MAX_POLLS_PER_INSTANCE = 200_000;

async function expectStatus(response: Promise<HttpResponse>, status: number, what: string): Promise<HttpResponse> {
  const settled = await response;
  if (settled.status !== status) throw new Error(`${what} answered ${settled.status}: ${settled.body}`);
  return settled;
}

export async function runRevocation(context: BenchContext): Promise<RevocationResult> {
  const log = context.log('revocation');
  const { plan } = context;
  const env = {
    DATABASE_URL: context.databaseUrl,
    REDIS_URL,
    REDIS_KEY_PREFIX: context.env.prefix('fleet'),
    KEYWARD_SECRET: context.env.secret,
    KEYWARD_COOKIE_SECURE: 'false',
    KEYWARD_SIGNUP: 'open', // the bench signs up its own account
    // The failed-check limiter stays at its default: a revoked key sent with its right secret is no guess,
    // so the pollers' 401s after each revoke do not count towards it.
  };
  const instances: RunningServer[] = [];
  const connections: HttpConnection[] = [];
  try {
    // Together, as a fleet starts (their migrations take an advisory lock in turn).
    instances.push(
      ...(await Promise.all(
        Array.from({ length: plan.revocation.instances }, (_, i) => startKeyward(`keyward-${i}`, env)),
      )),
    );
    const open = async (port: number) => {
      const connection = await HttpConnection.open({ port });
      connections.push(connection);
      return connection;
    };
    const management = await Promise.all(instances.map((instance) => open(instance.port)));
    const pollers = await Promise.all(instances.map((instance) => open(instance.port)));

    const json = { 'content-type': 'application/json' };
    const signup = await expectStatus(
      management[0]!.request(
        'POST',
        '/v1/signup',
        json,
        JSON.stringify({
          email: `bench-${context.env.runId}@example.com`,
          password: 'correct horse battery staple',
          accountName: 'Bench',
        }),
      ),
      201,
      'sign-up',
    );
    const cookie = headerValues(signup, 'set-cookie')[0]?.split(';')[0];
    if (!cookie) throw new Error('sign-up set no session cookie');

    /** One revocation through instance `revoker`, with every instance polled before, during and after. */
    const revokeOnce = async (revoker: number) => {
      const created = await expectStatus(
        management[0]!.request('POST', '/v1/keys', { ...json, cookie }, '{}'),
        201,
        'key creation',
      );
      const { apiKey, key } = JSON.parse(created.body) as { apiKey: string; key: { id: string } };
      const headers = { 'x-api-key': apiKey };
      for (const [index, connection] of pollers.entries()) {
        await expectStatus(connection.request('GET', '/v1/me', headers), 200, `instance ${index} before the revoke`);
      }

      const polls: Poll[][] = instances.map(() => []);
      let polling = true;
      const pollStartedAt = performance.now();
      const poll = async (index: number) => {
        const list = polls[index]!;
        while (polling && list.length < MAX_POLLS_PER_INSTANCE && performance.now() - pollStartedAt < MAX_POLL_MS) {
          const response = await pollers[index]!.request('GET', '/v1/me', headers);
          list.push({ sentAt: response.sentAt, receivedAt: response.receivedAt, status: response.status });
          await sleep(response.sentAt + POLL_INTERVAL_MS - performance.now());
        }
      };
      const polled = Promise.all(instances.map((_, index) => poll(index)));
      await sleep(plan.revocation.steadyMs);

      const revoke = await expectStatus(
        management[revoker]!.request('DELETE', `/v1/keys/${key.id}`, { cookie }),
        200,
        'revoke',
      );
      // Keep polling a while after the call returned, until every instance has been seen refusing the key.
      const stopAt = performance.now() + plan.revocation.afterMs;
      const refusedSinceReturn = (list: Poll[]) => list.some((p) => p.status !== 200 && p.sentAt >= revoke.receivedAt);
      while (
        performance.now() - pollStartedAt < MAX_POLL_MS &&
        (performance.now() < stopAt || !polls.every(refusedSinceReturn))
      ) {
        await sleep(10);
      }
      polling = false;
      await polled;
      return { startedAt: revoke.sentAt, returnedAt: revoke.receivedAt, polls };
    };

    const firstRejection: number[] = [];
    const revokerFirstRejection: number[] = [];
    const afterRevoker: number[] = [];
    const revokeCall: number[] = [];
    const warmFirstRejection: number[] = [];
    const warmRevokeCall: number[] = [];
    const gaps: number[] = [];
    const unexpectedStatuses: Record<string, number> = {};
    let acceptedAfterReturn = 0;
    let acceptedDuringCall = 0;
    let totalPolls = 0;

    // Revocation 0 is a warm-up (first key events, first revoke on each path) and is not recorded.
    for (let revocation = 0; revocation <= plan.revocation.revocations; revocation++) {
      const revoker = revocation % instances.length;
      const { startedAt, returnedAt, polls } = await revokeOnce(revoker);
      const firstAt = polls.map((list, index) => {
        const rejected = list.find((p) => p.status === 401);
        if (!rejected) throw new Error(`instance ${index} never refused the revoked key`);
        return rejected.receivedAt;
      });
      log(
        `revocation ${revocation}/${plan.revocation.revocations}${revocation === 0 ? ' (warm-up)' : ''} through ` +
          `instance ${revoker}: call ${(returnedAt - startedAt).toFixed(1)} ms, first rejections ` +
          `${firstAt.map((at) => (at - startedAt).toFixed(1)).join(' / ')} ms`,
      );
      if (revocation === 0) continue;

      revokeCall.push(returnedAt - startedAt);
      // Revocations 1 … n−1 are the first through instances 1 … n−1 (instance 0's was the warm-up).
      const warm = revocation >= instances.length;
      if (warm) {
        warmRevokeCall.push(returnedAt - startedAt);
        warmFirstRejection.push(...firstAt.map((at) => at - startedAt));
      }
      for (const [index, list] of polls.entries()) {
        totalPolls += list.length;
        for (let i = 1; i < list.length; i++) gaps.push(list[i]!.sentAt - list[i - 1]!.sentAt);
        for (const p of list) {
          if (p.status !== 200 && p.status !== 401) {
            unexpectedStatuses[p.status] = (unexpectedStatuses[p.status] ?? 0) + 1;
          }
          if (p.status === 200 && p.sentAt >= returnedAt) acceptedAfterReturn++;
          if (p.status === 200 && p.sentAt >= startedAt && p.sentAt < returnedAt) acceptedDuringCall++;
        }
        if (index === revoker) {
          revokerFirstRejection.push(firstAt[index]! - startedAt);
        } else {
          firstRejection.push(firstAt[index]! - startedAt);
          afterRevoker.push(firstAt[index]! - firstAt[revoker]!);
        }
      }
    }

    const withP99 = (values: number[]) => ({ ...summarize(values), p99: percentile(values, 99) });
    return {
      instances: instances.length,
      revocations: plan.revocation.revocations,
      // Every instance, the revoker included: the figure the target is about.
      firstRejectionMs: withP99([...firstRejection, ...revokerFirstRejection]),
      revokerFirstRejectionMs: summarize(revokerFirstRejection),
      afterRevokerMs: withP99(afterRevoker),
      revokeCallMs: withP99(revokeCall),
      warm: { firstRejectionMs: withP99(warmFirstRejection), revokeCallMs: withP99(warmRevokeCall) },
      acceptedAfterReturn,
      acceptedDuringCall,
      unexpectedStatuses,
      pollGapMs: median(gaps),
      totalPolls,
      instanceStartMs: instances.map((instance) => instance.startMs),
    };
  } finally {
    for (const connection of connections) connection.close();
    await Promise.all(instances.map((instance) => instance.stop()));
  }
}
