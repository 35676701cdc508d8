/**
 * CPU cost of one in-process key check: nanoseconds per `KeyChecker.check()`
 * (and per `ApiKeyAuthenticator.authenticate()`, which adds the limiter and
 * usage counting) for a cached valid key, a cached revoked key, a wrong
 * secret for a cached id, a mistyped cached key and a malformed key. No I/O happens on these paths,
 * so the checker gets no database, hasher or Redis (a call to any would throw).
 * Run as `node --import tsx bench/lib/check-cost.ts`; prints one JSON line
 * (CheckCostResult).
 */
import type { Database } from '../../src/db/database.js';
import { ApiKeyAuthenticator } from '../../src/key-check/api-key-authenticator.js';
import { keyDigest } from '../../packages/member/src/digest.js';
import { FailureLimiter } from '../../src/key-check/failure-limiter.js';
import { KeyCache } from '../../packages/member/src/key-cache.js';
import { KeyChecker } from '../../src/key-check/key-checker.js';
import { LocalFleetSync } from '../../src/fleet/local-fleet-sync.js';
import { generateKey } from '../../packages/member/src/key-format.js';
import type { SecretHasher } from '../../src/keys/secret-hashing.js';
import { UsageRecorder } from '../../packages/member/src/usage-recorder.js';

export type CheckCase = 'cachedValid' | 'cachedRevoked' | 'wrongSecret' | 'mistyped' | 'malformed';

export interface CheckCostResult {
  /** ns per call, one value per repetition. */
  check: Record<CheckCase, number[]>;
  authenticate: Record<CheckCase, number[]>;
  callsPerRepetition: number;
}

const CALLS = Number(process.env.BENCH_CHECK_CALLS ?? 1_000_000);
const REPEATS = Number(process.env.BENCH_CHECK_REPEATS ?? 5);
const SECRET = 'bench-secret-bench-secret-bench-secret-00';
const PREFIX = 'kw';

const unreachable = new Proxy({} as object, {
  get: () => {
    throw new Error('the check-cost bench must not leave the process');
  },
});

const cache = new KeyCache(100_000, 3_600_000, 10_000);
const fleet = new LocalFleetSync(cache);
const checker = new KeyChecker({
  db: unreachable as Database,
  hasher: unreachable as SecretHasher,
  cache,
  fleet,
  serverSecret: SECRET,
  keyPrefix: PREFIX,
  databaseTimeoutMs: 1000,
});
const usage = new UsageRecorder({
  write: () => Promise.reject(new Error('no database in this bench')),
  log: { warn() {} },
  flushIntervalMs: 3_600_000,
  flushTimeoutMs: 1000,
  maxKeysPerMinute: 100_000,
  maxCallersPerKey: 100,
});
const authenticator = new ApiKeyAuthenticator(checker, new FailureLimiter(100, 60_000, null), usage);

/** A key as the cache holds it after one cold check, without the cold check. */
function cached(status: 'active' | 'revoked'): string {
  const { keyId, key } = generateKey(PREFIX);
  cache.set(
    keyId,
    {
      digest: keyDigest(SECRET, key),
      accountId: '00000000-0000-4000-8000-000000000001',
      expiresAt: null,
      status,
      restriction: null,
      epoch: fleet.trust.epoch,
      cachedAt: Date.now(),
    },
    cache.changeMark(),
  );
  return key;
}

/** Header values as Node's HTTP parser hands them over: flat strings, a fresh one per request. */
function flat(value: string): string {
  return Buffer.from(value, 'latin1').toString('latin1');
}

const valid = cached('active');
const unknown = generateKey(PREFIX).key;
const inputs: Record<CheckCase, string> = {
  cachedValid: valid,
  cachedRevoked: cached('revoked'),
  wrongSecret: generateKey(PREFIX, valid.slice(PREFIX.length + 1, PREFIX.length + 17)).key,
  /** A cached key with its last character changed: the checksum fails. */
  mistyped: valid.slice(0, -1) + (valid.endsWith('x') ? 'y' : 'x'),
  /** The right length and shape, any id, a wrong checksum. */
  malformed: unknown.slice(0, -1) + (unknown.endsWith('0') ? '1' : '0'),
};

const viaCheck = (header: string) => checker.check(header, Date.now());
const viaAuthenticate = (header: string) => authenticator.authenticate(header, '10.0.0.1', 'bench/1.0');

function nsPerCall(run: (header: string) => unknown, input: string): number {
  const headers = Array.from({ length: 1024 }, () => flat(input));
  let sink = 0;
  // CPU time, not wall time: other processes sharing the cores then disturb the figure far less.
  const started = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) if (run(headers[i & 1023]!) !== undefined) sink++;
  const used = process.cpuUsage(started);
  const ns = ((used.user + used.system) * 1000) / CALLS;
  if (sink !== CALLS) throw new Error('a check answered nothing');
  return ns;
}

const cases = Object.keys(inputs) as CheckCase[];
const result: CheckCostResult = {
  check: { cachedValid: [], cachedRevoked: [], wrongSecret: [], mistyped: [], malformed: [] },
  authenticate: { cachedValid: [], cachedRevoked: [], wrongSecret: [], mistyped: [], malformed: [] },
  callsPerRepetition: CALLS,
};
for (let repeat = 0; repeat <= REPEATS; repeat++) {
  for (const name of cases) {
    const check = nsPerCall(viaCheck, inputs[name]);
    const authenticate = nsPerCall(viaAuthenticate, inputs[name]);
    if (repeat === 0) continue; // warm-up: let the JIT settle
    result.check[name].push(check);
    result.authenticate[name].push(authenticate);
  }
}
process.stdout.write(JSON.stringify(result) + '\n');
