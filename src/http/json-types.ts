import { Kind, Type, type SchemaOptions, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox';

/*
 * Response schemas without `anyOf`. fast-json-stringify serializes a union by
 * asking Ajv which branch a value matches, and compiles that validator on the
 * route's first answer (~25 ms: a fresh instance's first revoke took 45–60 ms
 * instead of 6–10) or, with `compileValidators`, at start-up (~90 ms per app).
 * A list of JSON types (`['string', 'null']`) or an `enum` is serialized
 * directly, and reads the same in OpenAPI 3.1 and its generated clients.
 */

/** `T` or `null`, as one schema whose `type` lists both. `schema` must have a single `type`. */
export function Nullable<T extends TSchema>(schema: T, options: SchemaOptions = {}): TUnsafe<Static<T> | null> {
  if (typeof schema.type !== 'string') throw new Error('Nullable() needs a schema with one type');
  return Type.Unsafe<Static<T> | null>({ ...schema, ...options, [Kind]: 'Unsafe', type: [schema.type, 'null'] });
}

/** One of the given strings, as `{ type: 'string', enum }`. */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: SchemaOptions = {},
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ ...options, type: 'string', enum: [...values] });
}

/** A string, a number or null: the values of an audit entry's or a webhook payload's `details`/`data`. */
export const ScalarOrNull = Type.Unsafe<string | number | null>({ type: ['string', 'number', 'null'] });
