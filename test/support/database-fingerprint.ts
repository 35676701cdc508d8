/** A fingerprint of every Postgres table, to prove that a refused request changed nothing. */
import postgres from 'postgres';

/** Rows that a refused request may add by design, kept apart in the fingerprint (see `diff`). */
export const FAILED_LOGIN_AUDIT = 'audit_events[session.failed]';

export type Fingerprint = Record<string, string>;

/**
 * A digest of every row of every table in the public schema (`key_events.published_at` aside: the outbox
 * relay sets it in the background). Audit records of failed sign-ins are digested separately, because a
 * refused sign-in records one by design.
 */
export class DatabaseFingerprint {
  readonly sql: postgres.Sql;
  private query?: string;

  constructor(databaseUrl: string) {
    this.sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  }

  async tables(): Promise<string[]> {
    const rows = await this.sql<{ tablename: string }[]>`
      SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`;
    return rows.map((row) => row.tablename);
  }

  /** One query: per table, its row count and an order-independent sum of row hashes (no sort, no JSON). */
  private async build(): Promise<string> {
    const columns = await this.sql<{ table_name: string; column_name: string }[]>`
      SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`;
    const parts: string[] = [];
    for (const table of await this.tables()) {
      if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new Error(`unexpected table name ${table}`);
      const row = columns
        .filter((c) => c.table_name === table && c.column_name !== 'published_at')
        .map((c) => `t."${c.column_name}"`)
        .join(', ');
      const digest = (name: string, where: string) =>
        `SELECT '${name}' AS name, count(*)::text || ':' || ` +
        `coalesce(sum(hashtextextended(ROW(${row})::text, 0)), 0)::text AS digest FROM "${table}" t ${where}`;
      if (table === 'audit_events') {
        parts.push(digest(table, `WHERE action <> 'session.failed'`));
        parts.push(digest(FAILED_LOGIN_AUDIT, `WHERE action = 'session.failed'`));
      } else {
        parts.push(digest(table, ''));
      }
    }
    return parts.join(' UNION ALL ');
  }

  async take(): Promise<Fingerprint> {
    this.query ??= await this.build();
    const rows = await this.sql.unsafe<{ name: string; digest: string }[]>(this.query);
    return Object.fromEntries(rows.map((row) => [row.name, row.digest]));
  }

  /**
   * Every row that belongs to one account, for "nothing of that account changed". Tables with neither an
   * account_id nor a user_id column belong to no account and are left out.
   */
  async ofAccount(accountId: string): Promise<Record<string, string[]>> {
    const columns = await this.sql<{ table_name: string; column_name: string }[]>`
      SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = 'public' AND column_name IN ('account_id', 'user_id')`;
    const out: Record<string, string[]> = {};
    for (const table of await this.tables()) {
      const has = (column: string) => columns.some((c) => c.table_name === table && c.column_name === column);
      let where: string;
      if (table === 'accounts') where = 'id = $1';
      else if (has('account_id')) where = 'account_id = $1';
      else if (has('user_id')) where = 'user_id IN (SELECT id FROM users WHERE account_id = $1)';
      else continue;
      const rows = await this.sql.unsafe<{ x: string }[]>(
        `SELECT (to_jsonb(t) - 'published_at')::text AS x FROM "${table}" t WHERE ${where} ORDER BY 1`,
        [accountId],
      );
      out[table] = rows.map((row) => row.x);
    }
    return out;
  }

  close(): Promise<void> {
    return this.sql.end();
  }
}

/** The tables whose digest differs, leaving out the names in `allowed`. */
export function diff(before: Fingerprint, after: Fingerprint, allowed: string[] = []): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((name) => !allowed.includes(name) && before[name] !== after[name]);
}

/** Rows counted in a fingerprint entry. */
export function rowCount(fingerprint: Fingerprint, name: string): number {
  return Number((fingerprint[name] ?? '0:').split(':')[0]);
}

/**
 * Settings under which nothing in the background changes the database between two fingerprints: no usage
 * flush, maintenance run or webhook attempt. The example webhook URL (hooks.example.com) resolves nowhere
 * here, so private networks are allowed (no DNS check).
 */
export const NO_BACKGROUND_WRITES = {
  KEYWARD_USAGE_FLUSH_MS: '3600000',
  KEYWARD_MAINTENANCE_INTERVAL_SECONDS: '86400',
  KEYWARD_WEBHOOK_POLL_INTERVAL_MS: '60000',
  KEYWARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
};
