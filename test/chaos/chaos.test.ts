import { writeFileSync } from 'node:fs';
import t from 'tap';
import {
  analyse,
  CHECKS,
  ciSchedule,
  clientAgent,
  FAULT_KINDS,
  formatReport,
  runChaos,
  startedIncarnation,
  type ChaosData,
  type Violations,
} from '../support/chaos-scenario.js';

/*
 * CI mode of the chaos scenario (test/support/chaos-scenario.ts): three instances under
 * load for ~22 s while every fault kind is injected at least once. The long
 * mode is `npm run chaos` (scripts/chaos.ts).
 */

t.test('each chaos check fires on records that break it', async (t) => {
  const base: ChaosData = {
    settings: { leaseMs: 1500, usageFlushMs: 500, databaseTimeoutMs: 1000 },
    keys: [
      { index: 0, account: 0, keyId: 'k0', accountId: 'a', stable: true, attempts: [] },
      {
        index: 1,
        account: 0,
        keyId: 'k1',
        accountId: 'a',
        stable: false,
        attempts: [{ inc: 0, sentAt: 900, doneAt: 1000, status: 200, code: '' }],
      },
    ],
    samples: [
      { inc: 0, key: 0, sentAt: 90, doneAt: 100, status: 200, code: '' },
      { inc: 0, key: 1, sentAt: 90, doneAt: 100, status: 200, code: '' },
      { inc: 0, key: 1, sentAt: 950, doneAt: 960, status: 200, code: '' }, // during the revoke call: allowed
      { inc: 0, key: 1, sentAt: 2000, doneAt: 2010, status: 401, code: 'api_key_revoked' },
      { inc: 0, key: 0, sentAt: 2000, doneAt: 2010, status: 200, code: '' },
    ],
    incarnations: [startedIncarnation(0, 0, 0)],
    faults: [
      { kind: 'redis-restart', startAt: 3000, endAt: 4000, detail: '' },
      { kind: 'postgres-cut', startAt: 10_000, endAt: 11_000, detail: '' },
    ],
    recovery: [{ slot: 0, recovered: true, ms: 10, detail: '' }],
    observed: { wrongIdentity: [], finalSweep: [] },
    db: {
      keys: [
        { id: 'k0', revokedAt: null },
        { id: 'k1', revokedAt: 990 },
      ],
      audit: [
        { keyId: 'k0', action: 'key.created', count: 1 },
        { keyId: 'k1', action: 'key.created', count: 1 },
        { keyId: 'k1', action: 'key.revoked', count: 1 },
      ],
      events: [{ keyId: 'k1', kind: 'revoked', publishedAt: 995 }],
      usage: [
        { keyId: 'k0', granularity: 'minute', requests: 2 },
        { keyId: 'k0', granularity: 'hour', requests: 2 },
        { keyId: 'k1', granularity: 'minute', requests: 2 },
        { keyId: 'k1', granularity: 'hour', requests: 2 },
      ],
      callers: [
        { keyId: 'k0', userAgent: clientAgent(0), requests: 2, lastSeenAt: 2000 },
        { keyId: 'k1', userAgent: clientAgent(0), requests: 2, lastSeenAt: 950 },
      ],
    },
  };
  /** What Postgres holds for key `k{index}`: its minute and hour buckets and process 0's callers row. */
  const setUsage = (d: ChaosData, index: number, requests: number) => {
    d.db.usage[2 * index]!.requests = d.db.usage[2 * index + 1]!.requests = requests;
    d.db.callers[index]!.requests = requests;
  };
  const failing = (violations: Violations) =>
    Object.entries(violations)
      .filter(([, list]) => list.length > 0)
      .map(([name]) => name);
  t.same(failing(analyse(base)), [], 'consistent records: no violation');

  /** A case that adds one answer for the hot key 0 of instance 0, 10 ms after it was sent. */
  const withHotSample = (sentAt: number, status: number, code: string) => (d: ChaosData) =>
    void d.samples.push({ inc: 0, key: 0, sentAt, doneAt: sentAt + 10, status, code });
  const cases: Array<[string, (data: ChaosData) => void, string[]]> = [
    [
      'a 200 sent after the revoke returned',
      (d) => d.samples.push({ inc: 0, key: 1, sentAt: 1001, doneAt: 1010, status: 200, code: '' }),
      ['revokedAccepted', 'usageLost'],
    ],
    ['a hot key 503 while Redis is down', withHotSample(3500, 503, 'auth_unavailable'), ['hotFailedRedisDown']],
    ['a hot key without an answer while Redis is down', withHotSample(3500, 0, 'network'), ['hotFailedRedisDown']],
    ['a hot key 503 while Postgres is cut', withHotSample(10_500, 503, 'auth_unavailable'), ['hotFailedPostgresDown']],
    ['a hot key 500 with nothing broken', withHotSample(9000, 500, 'internal_error'), ['hotFailedNoFault']],
    [
      'a 503 for a key never answered 200 by that instance (cold) is no violation',
      (d) => {
        d.incarnations.push({ ...d.incarnations[0]!, id: 1, startedAt: 3000 });
        d.samples.push({ inc: 1, key: 0, sentAt: 3500, doneAt: 3510, status: 503, code: 'auth_unavailable' });
      },
      [],
    ],
    ['a 200 naming another key', (d) => d.observed.wrongIdentity.push('key #0 answered as {}'), ['wrongIdentity']],
    [
      'a revoke that answered 200 but is not in Postgres',
      (d) => {
        d.db.keys[1]!.revokedAt = null;
        d.db.audit.pop();
        d.db.events.pop();
      },
      ['revocationLost', 'auditMismatch'],
    ],
    ['a revocation without its audit event', (d) => void d.db.audit.pop(), ['auditMismatch']],
    ['a revoked key event never published', (d) => (d.db.events[0]!.publishedAt = null), ['unpublishedEvents']],
    [
      'a revocation never confirmed',
      (d) => (d.keys[1]!.attempts = [{ inc: 0, sentAt: 900, doneAt: 1000, status: 503, code: 'service_unavailable' }]),
      ['revokeNeverConfirmed'],
    ],
    [
      'a 503 revocation_pending never retried to a 200',
      (d) => (d.keys[1]!.attempts = [{ inc: 0, sentAt: 900, doneAt: 1000, status: 503, code: 'revocation_pending' }]),
      ['revokeNeverConfirmed', 'pendingNotRetried'],
    ],
    [
      'a 200 after a revocation_pending was relayed plus a lease',
      (d) => {
        d.keys[1]!.attempts.unshift({ inc: 0, sentAt: 500, doneAt: 600, status: 503, code: 'revocation_pending' });
        d.keys[1]!.attempts[1]!.sentAt = 5000;
        d.keys[1]!.attempts[1]!.doneAt = 9000;
        d.db.events[0]!.publishedAt = 2000;
        d.samples.splice(3, 1); // the 401 at 2000
        d.samples.push({ inc: 0, key: 1, sentAt: 3000, doneAt: 3010, status: 200, code: '' }); // within the lease
        d.samples.push({ inc: 0, key: 1, sentAt: 3600, doneAt: 3610, status: 200, code: '' }); // after it
        setUsage(d, 1, 4);
      },
      ['revokedAccepted'],
    ],
    ['a lost usage count', (d) => setUsage(d, 0, 1), ['usageLost']],
    ['a usage count too many', (d) => setUsage(d, 0, 3), ['usageOverCounted']],
    ['hour buckets that disagree with minutes', (d) => (d.db.usage[1]!.requests = 3), ['usageBuckets']],
    [
      'buckets that disagree with key_callers',
      (d) => (d.db.usage[0]!.requests = d.db.usage[1]!.requests = 3),
      ['usageBuckets'],
    ],
    [
      'a count flushed under another process than the one that answered',
      (d) => {
        d.incarnations.push({ ...d.incarnations[0]!, id: 1 });
        d.db.callers.push({ ...d.db.callers[0]!, userAgent: clientAgent(1), requests: 1 });
        d.db.callers[0]!.requests = 1;
      },
      ['usageLost', 'usageOverCounted'],
    ],
    [
      'a SIGKILL losing its last flush interval is within the bound',
      (d) => {
        Object.assign(d.incarnations[0]!, { stoppingAt: 2300, signal: 'SIGKILL' });
        setUsage(d, 0, 1);
      },
      [],
    ],
    [
      'a SIGKILL losing more than its last flush interval',
      (d) => {
        Object.assign(d.incarnations[0]!, { stoppingAt: 2300, signal: 'SIGKILL' });
        setUsage(d, 0, 0);
      },
      ['usageLostOnDeath'],
    ],
    [
      'a process that died on its own (its last interval of counts lost, requests failing as it died)',
      (d) => {
        Object.assign(d.incarnations[0]!, { crashedAt: 2300, exitCode: 1, crashOutput: 'TypeError' });
        d.samples.push({ inc: 0, key: 0, sentAt: 2100, doneAt: 2150, status: 0, code: 'network' });
        setUsage(d, 0, 1);
      },
      ['instanceCrashed'],
    ],
    [
      'a process that died in a Postgres cut loses what it counted since the cut began',
      (d) => {
        Object.assign(d.incarnations[0]!, { crashedAt: 10_900, exitCode: 1 });
        d.samples.push({ inc: 0, key: 0, sentAt: 9600, doneAt: 9610, status: 200, code: '' });
        d.samples.push({ inc: 0, key: 0, sentAt: 10_200, doneAt: 10_210, status: 200, code: '' });
      },
      ['instanceCrashed'],
    ],
    [
      'a process that died losing more than that',
      (d) => {
        Object.assign(d.incarnations[0]!, { crashedAt: 10_900, exitCode: 1 });
        d.samples.push({ inc: 0, key: 0, sentAt: 8500, doneAt: 8510, status: 200, code: '' });
      },
      ['usageLostOnDeath', 'instanceCrashed'],
    ],
    ['an instance that did not recover', (d) => (d.recovery[0]!.recovered = false), ['notRecovered']],
    ['a revoked key accepted in the final sweep', (d) => d.observed.finalSweep.push('instance 0: …'), ['finalSweep']],
    [
      'a SIGTERM that did not end cleanly',
      (d) => Object.assign(d.incarnations[0]!, { stoppingAt: 20_000, signal: 'SIGTERM', exitCode: 1 }),
      ['ungracefulStop'],
    ],
    [
      'a process still running long after SIGTERM',
      (d) =>
        Object.assign(d.incarnations[0]!, { stoppingAt: 20_000, signal: 'SIGTERM', exitCode: null, lingered: true }),
      ['ungracefulStop'],
    ],
  ];
  for (const [name, mutate, expected] of cases) {
    const data = structuredClone(base);
    mutate(data);
    t.same(failing(analyse(data)), expected, name);
  }
});

t.test('chaos, CI mode: every fault kind under load, no violation', async (t) => {
  const { loadMs, schedule } = ciSchedule();
  const report = await runChaos(t, {
    loadMs,
    schedule,
    log: process.env.CHAOS_VERBOSE ? (line) => t.comment(line) : undefined,
    logLevel: process.env.CHAOS_LOG_LEVEL === 'debug' ? 'debug' : 'info',
  });
  // For diagnosis: every request, fault, revocation and what Postgres held, as JSON.
  if (process.env.CHAOS_DUMP) writeFileSync(process.env.CHAOS_DUMP, JSON.stringify(report, null, 1));
  for (const line of formatReport(report)) t.comment(line);

  for (const kind of FAULT_KINDS) t.ok(report.faults[kind] >= 1, `${kind} injected`);
  for (const fault of report.faultLog.filter((f) => f.kind === 'pubsub-kill')) {
    t.match(fault.detail, /^[1-9]\d* subscribers killed/, 'CLIENT KILL TYPE pubsub cut subscribers');
  }
  t.ok(report.revocations.byOutcome['503 revocation_pending'], 'a revocation met the Redis outage (503 pending)');
  t.ok(
    report.requests.byInstance.every((n) => n > 100),
    'every instance served load',
  );
  // The request-level checks below saw traffic of each kind (a check that saw nothing proves nothing).
  t.ok(report.checked.revokedKey > 0, 'requests with revoked keys were sent after their revocation took effect');
  t.ok(report.checked.hotRedisDown > 0, 'valid hot keys were asked while only Redis was away');
  t.ok(report.checked.hotNoFault > 0, 'valid hot keys were asked while nothing was broken');

  for (const [name, description] of Object.entries(CHECKS)) {
    t.same(report.violations[name as keyof Violations], [], description);
  }
  if (report.violationCount > 0) {
    for (const [inc, lines] of Object.entries(report.instanceLogs)) {
      for (const line of lines.slice(-25)) t.comment(`process ${inc}: ${line}`);
    }
  }
});
