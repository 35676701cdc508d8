/**
 * Validates an OpenAPI 3.1 document, offline, three ways:
 *
 * 1. @seriousme/openapi-schema-validator: the document against the official OpenAPI 3.1 JSON Schema
 *    (structure, required fields, status codes), and that every local `$ref` resolves.
 * 2. @redocly/openapi-core's lint, `recommended` rules: semantics the schema cannot express (path
 *    parameters declared, operation ids unique, security defined...), and every example, request and
 *    response, against its schema.
 * 3. Ajv (JSON Schema 2020-12, with formats): every example against its schema again, because Redocly
 *    does not check formats (`date-time`, `uuid`, `email`).
 *
 * Used by test/docs/openapi-validation.test.ts and `npm run openapi:validate`.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { createConfig, lintFromString, type RawUniversalConfig } from '@redocly/openapi-core';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

type JsonObject = Record<string, unknown>;

export interface ValidationResult {
  /** Any of these makes the document invalid. */
  errors: string[];
  /** Style advice from Redocly's recommended rules; reported, not fatal. */
  warnings: string[];
}

/** Public by design: sign-up and sign-in start a session, the health checks are for load balancers. */
const PUBLIC_PATHS = ['/v1/signup', '/v1/login', '/healthz', '/readyz'];

const REDOCLY_CONFIG: RawUniversalConfig = {
  extends: ['recommended'],
  rules: {
    // Examples are part of the contract: a wrong one is an error, not advice.
    'no-invalid-media-type-examples': 'error',
    'no-invalid-schema-examples': 'error',
    'no-invalid-parameter-examples': 'error',
    // Every deployment has its own origin: the document is served relative to it (OpenAPI's default server "/").
    'no-empty-servers': 'off',
    'security-defined': { severity: 'error', exceptions: PUBLIC_PATHS.map((path) => ({ path })) },
  },
};

async function schemaErrors(document: JsonObject): Promise<string[]> {
  const validator = new Validator();
  const result = await validator.validate(structuredClone(document));
  if (result.valid) return validator.version === '3.1' ? [] : [`expected OpenAPI 3.1, found ${validator.version}`];
  const errors = typeof result.errors === 'string' ? [result.errors] : (result.errors ?? []);
  return errors.map((error) =>
    typeof error === 'string' ? `openapi-schema: ${error}` : `openapi-schema: ${error.instancePath} ${error.message}`,
  );
}

async function lintProblems(document: JsonObject): Promise<ValidationResult> {
  const config = await createConfig(REDOCLY_CONFIG);
  const problems = await lintFromString({
    source: JSON.stringify(document, null, 2),
    absoluteRef: 'openapi.json',
    config,
  });
  const describe = (problem: (typeof problems)[number]) =>
    `redocly ${problem.ruleId}: ${problem.message} (${problem.location[0]?.pointer ?? '#'})`;
  return {
    errors: problems.filter((problem) => problem.severity === 'error').map(describe),
    warnings: problems.filter((problem) => problem.severity !== 'error').map(describe),
  };
}

const DOCUMENT_ID = 'https://keyward.invalid/openapi.json';

/** A JSON pointer fragment (`#/paths/~1v1~1keys/...`). */
function pointerTo(path: string[]): string {
  return '#' + path.map((part) => '/' + part.replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

/** The same pointer as a URI fragment, as Ajv resolves it (`{keyId}` must be percent-encoded). */
function uriFragment(pointer: string): string {
  return '#' + pointer.slice(1).split('/').map(encodeURIComponent).join('/');
}

/** Every example in the document, with the JSON pointer of the schema it must satisfy. */
export function examplesOf(document: JsonObject): Array<{ where: string; schema: string; value: unknown }> {
  const found: Array<{ where: string; schema: string; value: unknown }> = [];
  const visit = (node: unknown, path: string[]) => {
    if (typeof node !== 'object' || node === null) return;
    if (Array.isArray(node)) {
      node.forEach((item, index) => visit(item, [...path, String(index)]));
      return;
    }
    const object = node as JsonObject;
    const where = pointerTo(path);
    // Media types, parameters and headers: `example`, or `examples` as a map of Example Objects.
    if (typeof object.schema === 'object' && object.schema !== null) {
      const schema = pointerTo([...path, 'schema']);
      if ('example' in object) found.push({ where: `${where}/example`, schema, value: object.example });
      if (typeof object.examples === 'object' && object.examples !== null && !Array.isArray(object.examples)) {
        for (const [name, example] of Object.entries(object.examples as Record<string, JsonObject>)) {
          if ('value' in example) found.push({ where: `${where}/examples/${name}`, schema, value: example.value });
        }
      }
    }
    // Schema Objects (JSON Schema 2020-12): `examples` is an array. (Anywhere else in OpenAPI it is a map.)
    if (Array.isArray(object.examples)) {
      object.examples.forEach((value, index) =>
        found.push({ where: `${where}/examples/${index}`, schema: where, value }),
      );
    }
    for (const [key, value] of Object.entries(object)) {
      if (key !== 'example' && key !== 'examples') visit(value, [...path, key]);
    }
  };
  visit(document, []);
  return found;
}

function exampleErrors(document: JsonObject): string[] {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
  addFormats.default(ajv);
  ajv.addSchema(document, DOCUMENT_ID);
  const errors: string[] = [];
  for (const example of examplesOf(document)) {
    try {
      const validate = ajv.getSchema(DOCUMENT_ID + uriFragment(example.schema));
      if (!validate) {
        errors.push(`ajv: no schema at ${example.schema} for the example at ${example.where}`);
      } else if (!validate(example.value)) {
        errors.push(`ajv: the example at ${example.where} is invalid: ${ajv.errorsText(validate.errors)}`);
      }
    } catch (error) {
      errors.push(`ajv: the schema at ${example.schema} does not compile: ${(error as Error).message}`);
    }
  }
  return errors;
}

export async function validateOpenApiDocument(document: JsonObject): Promise<ValidationResult> {
  const lint = await lintProblems(document);
  return {
    errors: [...(await schemaErrors(document)), ...lint.errors, ...exampleErrors(document)],
    warnings: lint.warnings,
  };
}
