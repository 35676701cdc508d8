/**
 * 4. Revocation propagation: N keyward instances (src/server.ts) as separate
 * processes on one Postgres and Redis. For each revocation: a fresh key,
 * accepted on every instance, is polled on every instance over a kept-alive
 * connection (one request at a time per instance); it is revoked through one
 * instance (a different one each time). Per instance: the time from the revoke
 * call to the first rejection, and the requests accepted after the revoke call
 * returned (must be 0).
 *
 * Alternating with the revocations, the same for narrowing a key's scopes
 * (PATCH /v1/keys/{id}, announced like a revocation): a fresh key with two
 * scopes is polled on forward auth (GET /v1/verify) asking for the scope the
 * PATCH removes, until every instance answers 403 insufficient_scope. And, in
 * the same conditions (while the instances are polled, before each call), the
 * floor of any such change: one Postgres commit plus one Redis round trip.
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { headerValues, HttpConnection, type HttpResponse } from '../lib/http-connection.js';
import { startKeyward, type RunningServer } from '../lib/servers.js';
import { median, percentile, summarize, type Summary } from '../lib/stats.js';
import { sleep } from '../lib/util.js';
import { REDIS_URL } from '../lib/environment.js';
import type { BenchContext } from './context.js';

type WithP99 = Summary & { p99: number };

/**
 * A kind of key change timed on every instance: change call sent → first refusal received, per instance and
 * change, ms (an upper bound: the instance started refusing somewhere before).
 */
export interface PropagationFigures {
  /** Every instance, the one that handled the call included: the figure the target is about. */
  firstRefusalMs: WithP99;
  /** The instance that handled the call (it applies the change as soon as it committed). */
  callerFirstRefusalMs: Summary;
  /** Other instances' first refusal after the caller's: the propagation through Redis proper, ms. */
  afterCallerMs: WithP99;
  /** Duration of the change call, ms. */
  callMs: WithP99;
  /**
   * How long each instance took to answer the request that brought its first refusal, ms (sent → received):
   * near a cached check's time when the change reached the cache as a status, longer when the instance had to
   * check the key again (Postgres + argon2id). Absent from older results.
   */
  firstRefusalAnswerMs?: WithP99;
  /**
   * The two figures above without each instance's first change of this kind (code paths and statements not yet
   * run in that process): what a fleet that has been serving for a while sees.
   */
  warm: { firstRefusalMs: WithP99; callMs: WithP99 };
  /** Requests sent after the call returned that were still accepted, all instances and changes (must be 0). */
  acceptedAfterReturn: number;
  /** Requests accepted while the call was in flight (allowed: the call had not returned). */
  acceptedDuringCall: number;
  /** Answers other than the accepted one and the expected refusal (must be 0). */
  unexpectedStatuses: Record<string, number>;
  /** Median gap between consecutive polls of one instance, ms: the resolution of the timings above. */
  pollGapMs: number;
  totalPolls: number;
}

/** Narrowing a key's scopes (PATCH), timed like a revocation; absent from older results. */
export interface NarrowingResult extends PropagationFigures {
  narrowings: number;
  /** The scopes the key is created with, and those the PATCH leaves it (the polled request needs the removed one). */
  scopesBefore: string[];
  scopesAfter: string[];
}

/**
 * The floor of a change every instance must see: one Postgres commit (a one-row UPDATE, committed on its own)
 * then one Redis round trip (a PUBLISH), sequential, from the bench process, ms. Sampled before each recorded
 * change call while the instances are polled, as the calls are.
 */
export interface FloorResult {
  floorMs: WithP99;
  postgresCommitMs: WithP99;
  redisRoundTripMs: WithP99;
}

export interface RevocationResult {
  instances: number;
  revocations: number;
  /**
   * Revoke call sent → first rejection received, per instance and revocation, ms
   * (an upper bound: the instance stopped accepting somewhere before).
   */
  firstRejectionMs: WithP99;
  /** The same for the instance that handled the revoke call (it applies the change as soon as it committed). */
  revokerFirstRejectionMs: Summary;
  /** Other instances' first rejection after the revoker's: the propagation through Redis proper, ms. */
  afterRevokerMs: WithP99;
  /** Duration of the revoke call (DELETE /v1/keys/{id}), ms. */
  revokeCallMs: WithP99;
  /** Sent → received of the request that brought each instance's first rejection, ms; absent from older results. */
  firstRejectionAnswerMs?: WithP99;
  /**
   * The two figures above without each instance's first revocation (code paths and statements not yet run
   * in that process): what a fleet that has been serving for a while sees.
   */
  warm?: { firstRejectionMs: WithP99; revokeCallMs: WithP99 };
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
  /** Absent from older results. */
  narrowing?: NarrowingResult;
  floor?: FloorResult;
}

/** The revocation's figures under the names results have always had. */
export function revocationFields(figures: PropagationFigures) {
  const { firstRefusalMs, callerFirstRefusalMs, afterCallerMs, callMs, warm, firstRefusalAnswerMs, ...rest } = figures;
  return {
    ...rest,
    firstRejectionMs: firstRefusalMs,
    revokerFirstRejectionMs: callerFirstRefusalMs,
    afterRevokerMs: afterCallerMs,
    revokeCallMs: callMs,
    firstRejectionAnswerMs: firstRefusalAnswerMs,
    warm: { firstRejectionMs: warm.firstRefusalMs, revokeCallMs: warm.callMs },
  };
}

interface Poll {
  sentAt: number;
  receivedAt: number;
  status: number;
  /** The answer is the refusal the change must bring. */
  refused: boolean;
}

/** A kind of change: the key it starts from, the request polled, the refusal expected, the call. */
interface ChangeKind {
  name: string;
  /** POST /v1/keys body. */
  createBody: object;
  pollPath: string;
  pollHeaders: Record<string, string>;
  /** The polled request's answer while the key allows it. */
  acceptedStatus: number;
  isRefusal(response: HttpResponse): boolean;
  call(keyId: string): { method: string; path: string; body?: string };
  /** The key stays active after the change: revoked once measured (an account holds two active keys at most). */
  revokeAfter: boolean;
}

const NARROWED_SCOPE = 'orders:write';
const KEPT_SCOPE = 'orders:read';

const REVOKE: ChangeKind = {
  name: 'revocation',
  createBody: {},
  pollPath: '/v1/me',
  pollHeaders: {},
  acceptedStatus: 200,
  isRefusal: (response) => response.status === 401,
  call: (keyId) => ({ method: 'DELETE', path: `/v1/keys/${keyId}` }),
  revokeAfter: false,
};

const NARROW: ChangeKind = {
  name: 'narrowing',
  createBody: { scopes: [KEPT_SCOPE, NARROWED_SCOPE] },
  pollPath: '/v1/verify',
  pollHeaders: { 'x-keyward-required-scopes': NARROWED_SCOPE },
  acceptedStatus: 204,
  isRefusal: (response) => response.status === 403 && response.body.includes('"insufficient_scope"'),
  call: (keyId) => ({ method: 'PATCH', path: `/v1/keys/${keyId}`, body: JSON.stringify({ scopes: [KEPT_SCOPE] }) }),
  revokeAfter: true,
};

const withP99 = (values: number[]): WithP99 => ({ ...summarize(values), p99: percentile(values, 99) });

/** One kind of change's timings over the recorded changes (change 0 of each kind is an unrecorded warm-up). */
class PropagationRecorder {
  private readonly firstRefusal: number[] = [];
  private readonly callerFirstRefusal: number[] = [];
  private readonly afterCaller: number[] = [];
  private readonly call: number[] = [];
  private readonly firstRefusalAnswer: number[] = [];
  private readonly warmFirstRefusal: number[] = [];
  private readonly warmCall: number[] = [];
  private readonly gaps: number[] = [];
  private readonly unexpectedStatuses: Record<string, number> = {};
  private acceptedAfterReturn = 0;
  private acceptedDuringCall = 0;
  private totalPolls = 0;

  constructor(
    readonly kind: ChangeKind,
    private readonly instances: number,
  ) {}

  /** Change `index` (≥ 1) through instance `caller`; `firstRefused` is each instance's first refusal. */
  add(index: number, caller: number, run: ChangeRun, firstRefused: Poll[]): void {
    const { startedAt, returnedAt, polls } = run;
    const firstAt = firstRefused.map((p) => p.receivedAt);
    this.firstRefusalAnswer.push(...firstRefused.map((p) => p.receivedAt - p.sentAt));
    this.call.push(returnedAt - startedAt);
    // Changes 1 … n−1 are the first through instances 1 … n−1 (instance 0's was the warm-up).
    if (index >= this.instances) {
      this.warmCall.push(returnedAt - startedAt);
      this.warmFirstRefusal.push(...firstAt.map((at) => at - startedAt));
    }
    for (const [instance, list] of polls.entries()) {
      this.totalPolls += list.length;
      for (let i = 1; i < list.length; i++) this.gaps.push(list[i]!.sentAt - list[i - 1]!.sentAt);
      for (const p of list) {
        const accepted = p.status === this.kind.acceptedStatus;
        if (!accepted && !p.refused) this.unexpectedStatuses[p.status] = (this.unexpectedStatuses[p.status] ?? 0) + 1;
        if (accepted && p.sentAt >= returnedAt) this.acceptedAfterReturn++;
        if (accepted && p.sentAt >= startedAt && p.sentAt < returnedAt) this.acceptedDuringCall++;
      }
      if (instance === caller) {
        this.callerFirstRefusal.push(firstAt[instance]! - startedAt);
      } else {
        this.firstRefusal.push(firstAt[instance]! - startedAt);
        this.afterCaller.push(firstAt[instance]! - firstAt[caller]!);
      }
    }
  }

  figures(): PropagationFigures {
    return {
      firstRefusalMs: withP99([...this.firstRefusal, ...this.callerFirstRefusal]),
      callerFirstRefusalMs: summarize(this.callerFirstRefusal),
      afterCallerMs: withP99(this.afterCaller),
      callMs: withP99(this.call),
      firstRefusalAnswerMs: withP99(this.firstRefusalAnswer),
      warm: { firstRefusalMs: withP99(this.warmFirstRefusal), callMs: withP99(this.warmCall) },
      acceptedAfterReturn: this.acceptedAfterReturn,
      acceptedDuringCall: this.acceptedDuringCall,
      unexpectedStatuses: this.unexpectedStatuses,
      pollGapMs: median(this.gaps),
      totalPolls: this.totalPolls,
    };
  }
}

interface FloorSample {
  postgresCommitMs: number;
  redisRoundTripMs: number;
}

interface ChangeRun {
  startedAt: number;
  returnedAt: number;
  polls: Poll[][];
  floor: FloorSample[];
}

/**
 * Each instance is polled about this often (one request at a time). Polling
 * flat out would saturate both cores with 4 servers and their clients, and
 * measure CPU queueing rather than propagation.
 */
const POLL_INTERVAL_MS = 1;
/** Bounds each change's polling, whatever happens. */
const MAX_POLL_MS = 5000;
const MAX_POLLS_PER_INSTANCE = 200_000;
/** Floor samples taken before each change call. */
const FLOOR_SAMPLES_PER_CHANGE = 3;

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
    // so the pollers' 401s after each revoke do not count towards it (nor do the 403s after a narrowing).
  };
  const instances: RunningServer[] = [];
  const connections: HttpConnection[] = [];
  // The floor's own connections: a table of the bench's in the bench database, a channel no one listens to.
  const floorSql = postgres(context.databaseUrl, { max: 1, onnotice: () => {} });
  const floorRedis = new Redis(REDIS_URL);
  const floorChannel = `${context.env.prefix('fleet')}bench-floor`;
  try {
    await floorSql`CREATE TABLE bench_floor (id int PRIMARY KEY, n bigint NOT NULL)`;
    await floorSql`INSERT INTO bench_floor (id, n) VALUES (1, 0)`;
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

    /** The floor, one sample: a one-row UPDATE committed on its own, then a PUBLISH. */
    const floorSample = async (): Promise<FloorSample> => {
      const startedAt = performance.now();
      await floorSql`UPDATE bench_floor SET n = n + 1 WHERE id = 1`;
      const committedAt = performance.now();
      await floorRedis.publish(floorChannel, 'floor');
      return { postgresCommitMs: committedAt - startedAt, redisRoundTripMs: performance.now() - committedAt };
    };

    /** One change of `kind` through instance `caller`, with every instance polled before, during and after. */
    const changeOnce = async (kind: ChangeKind, caller: number): Promise<ChangeRun> => {
      const created = await expectStatus(
        management[0]!.request('POST', '/v1/keys', { ...json, cookie }, JSON.stringify(kind.createBody)),
        201,
        'key creation',
      );
      const { apiKey, key } = JSON.parse(created.body) as { apiKey: string; key: { id: string } };
      const headers = { ...kind.pollHeaders, 'x-api-key': apiKey };
      for (const [index, connection] of pollers.entries()) {
        await expectStatus(
          connection.request('GET', kind.pollPath, headers),
          kind.acceptedStatus,
          `instance ${index} before the ${kind.name}`,
        );
      }

      const polls: Poll[][] = instances.map(() => []);
      let polling = true;
      const pollStartedAt = performance.now();
      const poll = async (index: number) => {
        const list = polls[index]!;
        while (polling && list.length < MAX_POLLS_PER_INSTANCE && performance.now() - pollStartedAt < MAX_POLL_MS) {
          const response = await pollers[index]!.request('GET', kind.pollPath, headers);
          const { sentAt, receivedAt, status } = response;
          list.push({ sentAt, receivedAt, status, refused: kind.isRefusal(response) });
          await sleep(sentAt + POLL_INTERVAL_MS - performance.now());
        }
      };
      const polled = Promise.all(instances.map((_, index) => poll(index)));
      const floor: FloorSample[] = [];
      for (let sample = 0; sample < FLOOR_SAMPLES_PER_CHANGE; sample++) floor.push(await floorSample());
      await sleep(pollStartedAt + plan.revocation.steadyMs - performance.now());

      const call = kind.call(key.id);
      const changed = await expectStatus(
        management[caller]!.request(call.method, call.path, call.body ? { ...json, cookie } : { cookie }, call.body),
        200,
        kind.name,
      );
      // Keep polling a while after the call returned, until every instance has been seen refusing the key.
      const stopAt = performance.now() + plan.revocation.afterMs;
      const refusedSinceReturn = (list: Poll[]) => list.some((p) => p.refused && p.sentAt >= changed.receivedAt);
      while (
        performance.now() - pollStartedAt < MAX_POLL_MS &&
        (performance.now() < stopAt || !polls.every(refusedSinceReturn))
      ) {
        await sleep(10);
      }
      polling = false;
      await polled;
      if (kind.revokeAfter) {
        await expectStatus(management[0]!.request('DELETE', `/v1/keys/${key.id}`, { cookie }), 200, 'revoke');
      }
      return { startedAt: changed.sentAt, returnedAt: changed.receivedAt, polls, floor };
    };

    const recorders = [REVOKE, NARROW].map((kind) => new PropagationRecorder(kind, instances.length));
    const floor: FloorSample[] = [];
    // Change 0 of each kind is a warm-up (first key events, first call on each path) and is not recorded.
    // The kinds alternate, so that both see the machine alike.
    for (let change = 0; change <= plan.revocation.revocations; change++) {
      const caller = change % instances.length;
      for (const recorder of recorders) {
        const { kind } = recorder;
        const run = await changeOnce(kind, caller);
        const firstRefused = run.polls.map((list, index) => {
          const refused = list.find((p) => p.refused);
          if (!refused) throw new Error(`instance ${index} never refused the key after the ${kind.name}`);
          return refused;
        });
        log(
          `${kind.name} ${change}/${plan.revocation.revocations}${change === 0 ? ' (warm-up)' : ''} through ` +
            `instance ${caller}: call ${(run.returnedAt - run.startedAt).toFixed(1)} ms, first refusals ` +
            `${firstRefused.map((p) => (p.receivedAt - run.startedAt).toFixed(1)).join(' / ')} ms (answered in ` +
            `${firstRefused.map((p) => (p.receivedAt - p.sentAt).toFixed(1)).join(' / ')} ms)`,
        );
        if (change === 0) continue;
        recorder.add(change, caller, run, firstRefused);
        floor.push(...run.floor);
      }
    }

    const [revocation, narrowing] = recorders.map((recorder) => recorder.figures());
    return {
      instances: instances.length,
      revocations: plan.revocation.revocations,
      ...revocationFields(revocation!),
      instanceStartMs: instances.map((instance) => instance.startMs),
      narrowing: {
        narrowings: plan.revocation.revocations,
        scopesBefore: [KEPT_SCOPE, NARROWED_SCOPE],
        scopesAfter: [KEPT_SCOPE],
        ...narrowing!,
      },
      floor: {
        floorMs: withP99(floor.map((sample) => sample.postgresCommitMs + sample.redisRoundTripMs)),
        postgresCommitMs: withP99(floor.map((sample) => sample.postgresCommitMs)),
        redisRoundTripMs: withP99(floor.map((sample) => sample.redisRoundTripMs)),
      },
    };
  } finally {
    await floorSql.end({ timeout: 5 });
    floorRedis.disconnect();
    for (const connection of connections) connection.close();
    await Promise.all(instances.map((instance) => instance.stop()));
  }
}
