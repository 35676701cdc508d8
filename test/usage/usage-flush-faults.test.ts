import pino from 'pino';
import postgres from 'postgres';
import t, { type Test } from 'tap';
import { openPostgres } from '../../src/db/database.js';
import { UsageRecorder } from '../../packages/member/src/usage-recorder.js';
import { writeUsageBatch } from '../../src/usage/usage-writes.js';
import { createTestDatabase } from '../support/services.js';
import { TcpProxy } from '../support/tcp-proxy.js';

/*
 * Usage flushes against a Postgres that misbehaves, through a TcpProxy in
 * front of a database of our own: a COMMIT that commits but whose answer
 * never comes back, and a partition during a flush. What Postgres holds is
 * read directly, bypassing the proxy.
 */

const FLUSH_TIMEOUT_MS = 300;

async function recorderBehindProxy(t: Test) {
  const databaseUrl = await createTestDatabase(t);
  const { hostname, port } = new URL(databaseUrl);
  const proxy = await TcpProxy.start(t, { host: hostname, port: Number(port) });
  const handle = openPostgres({
    url: proxy.urlFor(databaseUrl),
    poolSize: 4,
    statementTimeoutMs: 2000,
    connectTimeoutMs: 2000,
  });
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line).msg) });
  const recorder = new UsageRecorder({
    write: (batchId, minutes) =>
      writeUsageBatch(handle.db, { statementTimeoutMs: 1000, idleTimeoutMs: 1000 }, batchId, minutes),
    log,
    flushIntervalMs: 3_600_000, // flushed by the test only
    flushTimeoutMs: FLUSH_TIMEOUT_MS,
    maxKeysPerMinute: 100,
    maxCallersPerKey: 10,
  });
  const direct = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  t.teardown(async () => {
    proxy.restore();
    await recorder.close();
    await handle.close();
    await direct.end({ timeout: 1 });
  });
  const record = (keyId: string, requests: number) => {
    for (let i = 0; i < requests; i++) {
      recorder.record(keyId, '00000000-0000-4000-8000-000000000001', '10.0.0.1', 'flush-test', Date.now());
    }
  };
  const stored = async (keyId: string) => {
    const [row] = await direct`
      SELECT
        (SELECT coalesce(sum(requests), 0)::int FROM key_usage WHERE key_id = ${keyId} AND granularity = 'minute') AS minutes,
        (SELECT coalesce(sum(requests), 0)::int FROM key_usage WHERE key_id = ${keyId} AND granularity = 'hour') AS hours,
        (SELECT coalesce(sum(requests), 0)::int FROM key_callers WHERE key_id = ${keyId}) AS callers`;
    return row as { minutes: number; hours: number; callers: number };
  };
  return { proxy, recorder, record, stored, warnings };
}

t.test('a flush whose COMMIT answer is lost is retried without counting twice', async (t) => {
  const { proxy, recorder, record, stored, warnings } = await recorderBehindProxy(t);
  const key = 'LostCommitKey001';

  record(key, 5);
  proxy.loseAnswersAfter('commit');
  await recorder.flush();
  t.same(await stored(key), { minutes: 5, hours: 5, callers: 5 }, 'the COMMIT reached Postgres: 5 are stored');
  t.match(warnings, [/usage flush failed/], 'the flush stopped waiting after its timeout and said so');

  record(key, 3); // counted while the first write is unanswered: the next batch
  proxy.cut(); // the unanswered connection dies: on the client that write failed, though it committed
  proxy.restore();
  await recorder.flush();
  t.same(
    await stored(key),
    { minutes: 8, hours: 8, callers: 8 },
    'the first batch, written again, added nothing; the new 3 were added once',
  );

  await recorder.flush();
  t.same(await stored(key), { minutes: 8, hours: 8, callers: 8 }, 'a flush with nothing new adds nothing');
});

t.test('a partition during a flush: the flush returns, the counts arrive once after it heals', async (t) => {
  const { proxy, recorder, record, stored } = await recorderBehindProxy(t);
  const key = 'PartitionKey0001';

  record(key, 4);
  proxy.blackhole();
  await recorder.flush(); // returns after its timeout, its write hanging behind the partition
  record(key, 2);
  await recorder.flush(); // the same again; the 2 wait in the next batch
  t.same(await stored(key), { minutes: 0, hours: 0, callers: 0 }, 'nothing arrived during the partition');

  proxy.restore(); // new connections get through; the hung ones stay hung
  await recorder.flush();
  t.same(await stored(key), { minutes: 6, hours: 6, callers: 6 }, 'after the partition: every count, once');
});
