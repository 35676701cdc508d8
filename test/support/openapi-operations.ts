/** The operations of the committed openapi/openapi.json, so that tests cover every route without listing them. */
import { readFileSync } from 'node:fs';

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
      // to 1 MiB and is off in these apps: test/leaks/ covers it, hostile input included.
      if (schemes.includes('githubSignature')) continue;
      const statuses = Object.keys(operation.responses).map(Number);
      const json = operation.requestBody?.content['application/json'];
      operations.push({
        operationId: operation.operationId,
        method: method.toUpperCase(),
        path,
        auth:
          schemes.includes('sessionCookie') || schemes.includes('secureSessionCookie')
            ? 'session'
            : schemes.includes('apiKey')
              ? 'apiKey'
              : 'none',
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
