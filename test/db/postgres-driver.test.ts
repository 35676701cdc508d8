import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import t from 'tap';
import type { Test } from 'tap';
import { openPostgres, RECONNECT_DELAY_MAX_SECONDS, reconnectDelaySeconds } from '../../src/db/database.js';
import { createTestDatabase } from '../support/services.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { sleep } from '../support/wait.js';

/*
 * postgres.js 3.4.9 writes to a connection's socket on a later tick
 * (setImmediate). When the connection closed in between, as when Postgres is
 * cut inside a transaction and the driver sends ROLLBACK, that write threw an
 * uncaught TypeError and killed the process (porsager/postgres#1154, #1208).
 * keyward opens its pools with a copy of the driver that guards it
 * (packages/postgres-guarded/README.md); these tests hold the guard to account
 * through a TcpProxy that cuts our own database, and keep the copy equal to
 * the installed release but for the guard.
 */

const VENDORED_DIR = fileURLToPath(new URL('../../packages/postgres-guarded/', import.meta.url));
const GUARD = /^ *\/\/ keyward guard begin[^\n]*\n[\s\S]*?^ *\/\/ keyward guard end\n/m;

t.test('the vendored driver is the installed postgres release plus the guard, nothing else', async (t) => {
  const installedDir = fileURLToPath(new URL('../../node_modules/postgres/src/', import.meta.url));
  const installed = readdirSync(installedDir).filter((name) => name.endsWith('.js'));
  const vendored = readdirSync(VENDORED_DIR).filter((name) => name.endsWith('.js'));
  t.same(vendored.sort(), installed.sort(), 'the same files');
  for (const name of installed) {
    const copy = readFileSync(join(VENDORED_DIR, name), 'utf8');
    const expected = readFileSync(join(installedDir, name), 'utf8');
    if (name === 'connection.js') {
      t.match(copy, GUARD, 'connection.js has the guard');
      t.equal(copy.replace(GUARD, ''), expected, 'connection.js: only the guard differs');
    } else {
      t.equal(copy, expected, `${name}: unchanged`);
    }
  }
  const version = (dir: string) =>
    (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  t.equal(version(VENDORED_DIR), version(join(installedDir, '..')), 'its package.json names the release it copies');
});

t.test('keyward opens its pools with the guarded copy, not the installed release', async (t) => {
  const guarded = await import('#postgres-guarded');
  const installed = await import('postgres');
  t.not(guarded.default, installed.default, 'a different module');
  t.equal(
    fileURLToPath(import.meta.resolve('#postgres-guarded')),
    join(VENDORED_DIR, 'index.js'),
    'package.json "imports" maps #postgres-guarded to packages/postgres-guarded',
  );
});

async function proxiedDatabase(t: Test) {
  const databaseUrl = await createTestDatabase(t);
  const { hostname, port } = new URL(databaseUrl);
  const proxy = await TcpProxy.start(t, { host: hostname, port: Number(port) });
  /** A new pool of one connection, as keyward opens it. */
  const openPool = () => {
    const handle = openPostgres({
      url: proxy.urlFor(databaseUrl),
      poolSize: 1,
      statementTimeoutMs: 2000,
      connectTimeoutMs: 2000,
    });
    t.teardown(() => handle.close());
    return handle.db;
  };
  return { proxy, openPool };
}

t.test('a connection cut inside a transaction rejects the transaction and leaves the process alive', async (t) => {
  const { proxy, openPool } = await proxiedDatabase(t);
  const db = openPool();
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.on('uncaughtException', onUncaught);
  t.teardown(() => process.off('uncaughtException', onUncaught));

  for (let round = 0; round < 5; round++) {
    const outcome = await db
      .transaction(async (tx) => {
        await tx.execute(sql`SELECT 1`);
        proxy.cut();
        await sleep(20); // the close reaches the driver before the next statement
        await tx.execute(sql`SELECT 2`);
      })
      .then(
        () => 'committed',
        (error: unknown) => (error as { code?: string }).code ?? String(error),
      );
    t.match(outcome, /^CONNECTION_(CLOSED|DESTROYED)$|ECONNRESET/, `round ${round}: the transaction fails cleanly`);
    await sleep(20); // the deferred write, if any, has run
    t.same(uncaught, [], `round ${round}: nothing escaped as an uncaught exception`);
    proxy.restore();
    // The pool has one connection: it must come back, not stay wedged behind a half-written buffer.
    const rows = (await db.execute(sql`SELECT 42 AS answer`)) as unknown as Array<{ answer: number }>;
    t.same([...rows], [{ answer: 42 }], `round ${round}: the same pool answers after the cut`);
  }
});

t.test('a connection cut while it starts up fails only the queries waiting on it', async (t) => {
  const { proxy, openPool } = await proxiedDatabase(t);
  const escaped: unknown[] = [];
  const onEscape = (error: unknown) => escaped.push(error);
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
  t.teardown(() => {
    process.off('uncaughtException', onEscape);
    process.off('unhandledRejection', onEscape);
  });
  // The startup message, the driver's own catalog query (off in keyward: fetch_types), the first statement.
  for (const marker of ['application_name', 'pg_catalog.pg_type', 'SELECT 42']) {
    for (const reset of [false, true]) {
      const how = `${reset ? 'reset' : 'cut'} after "${marker}"`;
      const db = openPool(); // no connection yet: the first query opens one
      proxy.cutAfter(marker, { reset });
      // The driver keeps retrying to connect for the query that opened the connection: it settles once restored.
      const first = db.execute(sql`SELECT 42 AS answer`).catch(() => undefined);
      await sleep(100);
      proxy.restore();
      await first;
      const rows = (await db.execute(sql`SELECT 42 AS answer`)) as unknown as Array<{ answer: number }>;
      t.same([...rows], [{ answer: 42 }], `${how}: the pool answers once restored`);
    }
  }
  t.same(escaped, [], 'no error escaped as an uncaught exception or unhandled rejection');
});

t.test('the pool reconnects within half a second however long Postgres was away', async (t) => {
  // postgres.js's own delay grows to 20 s with the failures of the whole pool; ours is capped.
  for (let failures = 0; failures <= 40; failures++) {
    const delay = reconnectDelaySeconds(failures);
    if (!(delay > 0 && delay <= RECONNECT_DELAY_MAX_SECONDS)) t.fail(`${failures} failures: ${delay} s`);
  }
  t.ok(RECONNECT_DELAY_MAX_SECONDS <= 0.5, `capped at ${RECONNECT_DELAY_MAX_SECONDS} s, as the README says`);
  const late = reconnectDelaySeconds(40);
  t.ok(late >= RECONNECT_DELAY_MAX_SECONDS / 2, `a long outage reaches the cap, less its jitter (${late} s)`);
  t.ok(reconnectDelaySeconds(0) <= 0.05, 'the first retry comes within 50 ms');
});
