/**
 * Shared by the hardening tests: the operations of openapi/openapi.json, the
 * error envelope check, a time bound on every request, and a fingerprint of
 * every Postgres table to prove that a refused request changed nothing.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import postgres from 'postgres';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  format?: string;
  default?: unknown;
}

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  schema: JsonSchema;
  example?: unknown;
}

export interface Operation {
  operationId: string;
  method: string;
  /** The document's path, e.g. `/v1/keys/{keyId}`. */
  path: string;
  /** How the caller authenticates: `session` (cookie), `apiKey` (x-api-key) or `none`. */
  auth: 'session' | 'apiKey' | 'none';
  parameters: Parameter[];
  body?: { schema: JsonSchema; example?: Json };
  /** The documented 2xx statuses. */
  successStatuses: number[];
  /** Every documented status. */
  statuses: number[];
}

interface OpenApiOperation {
  operationId: string;
  security?: Array<Record<string, unknown>>;
  parameters?: Parameter[];
  requestBody?: { content: { 'application/json': { schema: JsonSchema; example?: Json } } };
  responses: Record<string, unknown>;
}

/** Every operation of the committed document, so that new routes are covered without editing the tests. */
export function loadOperations(): Operation[] {
  const document = JSON.parse(readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')) as {
    paths: Record<string, Record<string, OpenApiOperation>>;
  };
  const operations: Operation[] = [];
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const schemes = (operation.security ?? []).flatMap((requirement) => Object.keys(requirement));
      // GitHub's secret scanning endpoint is server to server (no cookie, so no CSRF check), takes bodies up
      // to 1 MiB and is off in these apps: test/secret-scanning/ covers it, hostile input included.
      if (schemes.includes('githubSignature')) continue;
      const statuses = Object.keys(operation.responses).map(Number);
      const json = operation.requestBody?.content['application/json'];
      operations.push({
        operationId: operation.operationId,
        method: method.toUpperCase(),
        path,
        auth: schemes.includes('sessionCookie') ? 'session' : schemes.includes('apiKey') ? 'apiKey' : 'none',
        parameters: operation.parameters ?? [],
        body: json ? { schema: json.schema, example: json.example } : undefined,
        successStatuses: statuses.filter((status) => status >= 200 && status < 300),
        statuses,
      });
    }
  }
  return operations;
}

export const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The path with its parameters filled in (already encoded by the caller). */
export function fillPath(operation: Operation, values: Record<string, string>): string {
  return operation.path.replace(/\{(\w+)\}/g, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for path parameter ${name} of ${operation.operationId}`);
    return value;
  });
}

export interface InjectedResponse {
  statusCode: number;
  body: string;
  headers: Record<string, string | string[] | number | undefined>;
}

/**
 * Why a response is not keyward's error envelope `{"error":{"code","message","requestId"}}` (with the
 * requestId of its x-request-id header, unless `header: false`), or undefined when it is.
 */
export function envelopeProblem(response: InjectedResponse, { header = true } = {}): string | undefined {
  const contentType = String(response.headers['content-type'] ?? '');
  if (!contentType.startsWith('application/json')) return `content-type is "${contentType}"`;
  let body: unknown;
  try {
    body = JSON.parse(response.body);
  } catch {
    return `body is not JSON: ${response.body.slice(0, 100)}`;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body is not an object';
  if (Object.keys(body).join(',') !== 'error') return `top-level keys are ${Object.keys(body).join(',')}`;
  const error = (body as { error: unknown }).error;
  if (typeof error !== 'object' || error === null) return 'error is not an object';
  const keys = Object.keys(error).sort().join(',');
  if (keys !== 'code,message,requestId') return `error keys are ${keys}`;
  const { code, message, requestId } = error as Record<string, unknown>;
  if (typeof code !== 'string' || !/^[a-z][a-z_]*$/.test(code)) return `code is ${JSON.stringify(code)}`;
  if (typeof message !== 'string' || message.length === 0) return 'message is empty';
  if (typeof requestId !== 'string' || requestId.length === 0) return 'requestId is empty';
  if (header && response.headers['x-request-id'] !== requestId) {
    return `requestId differs from the x-request-id header (${response.headers['x-request-id']})`;
  }
  return undefined;
}

export function errorOf(response: InjectedResponse): { code: string; message: string; requestId: string } {
  return (JSON.parse(response.body) as { error: { code: string; message: string; requestId: string } }).error;
}

/** Rejects when the promise has not settled after `ms`: a hang is a failure, never a stuck test run. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

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

/** Percent-encodes every byte outside the URL's unreserved set, except those in `keep`. */
export function encodeBytes(value: string, keep = ''): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const char = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(char) || (byte < 0x80 && keep.includes(char))) out += char;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A JSON object's text from its entries, so that keys such as `__proto__` are really sent. */
export function objectText(entries: Array<[string, unknown]>): string {
  const members = entries
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`);
  return `{${members.join(',')}}`;
}

/** A keyward reachable over HTTP (a process or a listening app): sign up and create a key as a browser would. */
export async function signUpOver(baseUrl: string, email: string) {
  const response = await fetch(`${baseUrl}/v1/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'correct horse battery', accountName: 'Acme' }),
  });
  if (response.status !== 201) throw new Error(`sign-up failed: ${response.status} ${await response.text()}`);
  return { cookie: response.headers.get('set-cookie')!.split(';')[0]!, setCookie: response.headers.get('set-cookie')! };
}

export async function createKeyOver(baseUrl: string, cookie: string, name = 'production'): Promise<string> {
  const response = await fetch(`${baseUrl}/v1/keys`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  if (response.status !== 201) throw new Error(`create key failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { apiKey: string }).apiKey;
}

export interface RawAnswer {
  /** Everything the server sent, as latin1. */
  text: string;
  status?: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (it did not wait for more of the request). */
  closed: boolean;
}

/** Splits one HTTP/1.1 answer read off a socket. */
export function parseRawAnswer(text: string, closed: boolean): RawAnswer {
  const headEnd = text.indexOf('\r\n\r\n');
  const head = headEnd === -1 ? text : text.slice(0, headEnd);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return {
    text,
    status: status ? Number(status) : undefined,
    headers,
    body: headEnd === -1 ? '' : text.slice(headEnd + 4),
    closed,
  };
}

/**
 * Writes `chunks` to a fresh TCP connection, `gapMs` apart (a slow or hostile client), and collects what the
 * server sends until it closes the connection or `waitMs` passes. Never hangs: `closed` says which it was.
 */
export function rawExchange(
  port: number,
  chunks: Array<string | Buffer>,
  { gapMs = 0, waitMs = 5000, endAfterWriting = false } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    let text = '';
    let settled = false;
    const socket = connect(port, '127.0.0.1');
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseRawAnswer(text, closed));
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('close', () => finish(true));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      ['EPIPE', 'ECONNRESET'].includes(error.code ?? '') ? finish(true) : reject(error),
    );
    socket.on('connect', async () => {
      for (const [index, chunk] of chunks.entries()) {
        if (settled || socket.destroyed) return;
        if (index > 0 && gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
        if (!socket.destroyed) socket.write(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
      }
      if (endAfterWriting && !socket.destroyed) socket.end();
    });
  });
}
