/*
 * keyward runs on two drivers behind drizzle (postgres.js, and PGlite on the
 * embedded default) whose raw `execute` results differ in shape. These read
 * both, so no service has to know which one it runs on.
 */

/** The rows of a raw `execute`: postgres.js returns the rows themselves, PGlite an object with `rows`. */
export function rowsOf<T>(result: unknown): T[] {
  return Array.isArray(result) ? (result as T[]) : (result as { rows: T[] }).rows;
}

/** Rows a raw `execute` changed: postgres.js reports `count`, PGlite `affectedRows`. */
export function affectedRows(result: unknown): number {
  const { count, affectedRows } = result as { count?: number; affectedRows?: number };
  return Number(count ?? affectedRows ?? 0);
}

/** A Postgres array literal of plain tokens (key ids, ISO timestamps) or NULLs: one text parameter, bound alike by both. */
export function toArrayLiteral(values: Array<string | null>): string {
  return `{${values.map((value) => (value === null ? 'NULL' : `"${value}"`)).join(',')}}`;
}
