import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

function makeAjv(options: Options): Ajv {
  const ajv = new Ajv({ allErrors: false, useDefaults: true, removeAdditional: false, strict: false, ...options });
  addFormats.default(ajv);
  return ajv;
}

/**
 * JSON bodies are validated as sent: `{"name": 7}` is a client bug to report,
 * not a name to accept. Query strings and path parameters are text by nature,
 * so their numbers are converted.
 */
export function validatorCompiler(): FastifySchemaCompiler<object> {
  const bodies = makeAjv({ coerceTypes: false });
  const urlParts = makeAjv({ coerceTypes: true });
  return ({ schema, httpPart }) => (httpPart === 'body' ? bodies : urlParts).compile(schema);
}

// In a `u` regex a lone surrogate is a code point of its own (paired ones form another), so this finds
// exactly the UTF-16 that has no UTF-8 form: Postgres cannot store it and refuses the statement.
const LONE_SURROGATE = /\p{Surrogate}/u;

/** Whether any string (or property name) in a parsed JSON value holds a lone UTF-16 surrogate such as "\ud800". */
export function hasLoneSurrogate(value: unknown): boolean {
  if (typeof value === 'string') return LONE_SURROGATE.test(value);
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some(hasLoneSurrogate);
  for (const [name, member] of Object.entries(value)) {
    if (LONE_SURROGATE.test(name) || hasLoneSurrogate(member)) return true;
  }
  return false;
}
