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
