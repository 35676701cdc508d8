import type { IncomingMessage } from 'node:http';
import { Ajv, type Options, type ValidateFunction } from 'ajv';
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

/** A validator for one JSON body schema, exactly as routes validate bodies (for input that comes another way). */
export function bodyValidator(schema: object): ValidateFunction {
  return makeAjv({ coerceTypes: false }).compile(schema);
}

// In a `u` regex a lone surrogate is a code point of its own (paired ones form another), so this finds
// exactly the UTF-16 that has no UTF-8 form: Postgres cannot store it and refuses the statement.
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * Whether any string (or property name) in a parsed JSON value holds a lone UTF-16 surrogate such as "\ud800".
 * Iterative: a body of 16 KiB can nest 8000 levels deep, more than the call stack allows.
 */
export function hasLoneSurrogate(value: unknown): boolean {
  const pending = [value];
  while (pending.length > 0) {
    const current = pending.pop();
    if (typeof current === 'string') {
      if (LONE_SURROGATE.test(current)) return true;
    } else if (typeof current === 'object' && current !== null) {
      for (const [name, member] of Object.entries(current)) {
        if (LONE_SURROGATE.test(name)) return true;
        pending.push(member);
      }
    }
  }
  return false;
}

/**
 * Why a request's Host is unacceptable, or undefined. RFC 9112 §3.2: an HTTP/1.1 request needs exactly one
 * Host; Node keeps the first of several and drops the rest, so two are counted in the raw headers.
 */
export function hostHeaderProblem(request: IncomingMessage): string | undefined {
  if (request.headers.host === undefined) {
    return request.httpVersion === '1.0' ? undefined : 'An HTTP/1.1 request needs a Host header.';
  }
  const raw = request.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
  }
  return hosts > 1 ? 'A request must have exactly one Host header.' : undefined;
}
