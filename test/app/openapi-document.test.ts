import { readFileSync } from 'node:fs';
import t from 'tap';
import { generateOpenApiDocument, OPENAPI_PATH } from '../../src/app/openapi-document.js';

t.test('the committed openapi/openapi.json matches what the code generates', async (t) => {
  const generated = await generateOpenApiDocument();
  t.equal(readFileSync(OPENAPI_PATH, 'utf8'), generated, 'run `npm run openapi` and commit the result');
});

t.test('every operation has an id, summary, tags, security where needed, and enveloped errors', async (t) => {
  const document = JSON.parse(await generateOpenApiDocument());
  const ids = new Set<string>();
  for (const [path, methods] of Object.entries<Record<string, Record<string, unknown>>>(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const name = `${method.toUpperCase()} ${path}`;
      t.type(operation.operationId, 'string', `${name} operationId`);
      t.notOk(ids.has(operation.operationId as string), `${name} operationId unique`);
      ids.add(operation.operationId as string);
      t.type(operation.summary, 'string', `${name} summary`);
      t.ok((operation.tags as string[]).length > 0, `${name} tags`);
      const responses = operation.responses as Record<string, { content?: Record<string, { schema: unknown }> }>;
      for (const [status, response] of Object.entries(responses)) {
        // /readyz answers its readiness report with 503 too: load balancers read the status, people the body.
        if (Number(status) >= 400 && path !== '/readyz') {
          t.same(
            response.content?.['application/json']?.schema,
            { $ref: '#/components/schemas/ErrorEnvelope' },
            `${name} ${status}`,
          );
        }
      }
      const publicPaths = ['/v1/signup', '/v1/login', '/healthz', '/readyz'];
      if (!publicPaths.includes(path)) t.ok(operation.security, `${name} security`);
    }
  }
  t.ok(ids.size >= 9);
});

t.test('no response schema needs a validator to be serialized: nullables are type lists, choices enums', async (t) => {
  // fast-json-stringify asks Ajv which branch of an anyOf/oneOf a value takes, and compiles that validator on
  // the route's first answer (src/http/json-types.ts).
  const document = JSON.parse(await generateOpenApiDocument());
  const unions: string[] = [];
  const visit = (node: unknown, at: string): void => {
    if (Array.isArray(node)) return node.forEach((item, i) => visit(item, `${at}/${i}`));
    if (typeof node !== 'object' || node === null) return;
    for (const [name, value] of Object.entries(node)) {
      if (name === 'anyOf' || name === 'oneOf' || name === 'allOf') unions.push(`${at}/${name}`);
      visit(value, `${at}/${name}`);
    }
  };
  for (const [path, methods] of Object.entries<Record<string, { responses: unknown }>>(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) visit(operation.responses, `${method} ${path}`);
  }
  visit(document.components.schemas, 'components');
  t.same(unions, [], 'use Nullable() and StringEnum() from src/http/json-types.ts');
});
