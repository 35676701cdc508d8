import t from 'tap';
import { examplesOf, validateOpenApiDocument } from '../../scripts/openapi-validation.js';
import { keyHint, parseKey } from '../../packages/member/src/key-format.js';
import { generateOpenApiDocument } from '../../src/app/openapi-document.js';

type JsonObject = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const generated = await generateOpenApiDocument();
const document = (): JsonObject => JSON.parse(generated);

t.test('the generated OpenAPI document passes the validators', async (t) => {
  const { errors, warnings } = await validateOpenApiDocument(document());
  t.same(errors, [], 'no errors');
  for (const warning of warnings) t.comment(`warning: ${warning}`);
  t.equal(document().openapi, '3.1.0');
  t.ok(examplesOf(document()).length > 50, 'and its examples were checked');
});

t.test('the validators reject a broken document', async (t) => {
  const cases: Array<[string, (document: JsonObject) => void, RegExp]> = [
    ['no info', (d) => delete d.info, /^openapi-schema: .*info/],
    ['a response status that is not one', (d) => (d.paths['/v1/keys'].get.responses['2000'] = {}), /^openapi-schema:/],
    [
      'a dangling $ref',
      (d) =>
        (d.paths['/v1/keys'].get.responses['200'].content['application/json'].schema.$ref =
          '#/components/schemas/Nope'),
      /no-unresolved-refs/,
    ],
    [
      'an undeclared path parameter',
      (d) => (d.paths['/v1/keys/{keyId}'].delete.parameters = []),
      /redocly path-parameters-defined/,
    ],
    ['a duplicate operationId', (d) => (d.paths['/v1/keys'].get.operationId = 'createKey'), /operationId-unique/],
    [
      'a response example of the wrong type',
      (d) => (d.paths['/v1/keys'].post.responses['201'].content['application/json'].example.apiKey = 42),
      /redocly no-invalid-media-type-examples/,
    ],
    [
      'a request example the route would refuse',
      (d) => (d.paths['/v1/keys'].post.requestBody.content['application/json'].example.colour = 'red'),
      /redocly no-invalid-media-type-examples/,
    ],
    [
      'an error example without its request id',
      (d) =>
        delete d.paths['/v1/keys'].post.responses['409'].content['application/json'].examples.key_limit_reached.value
          .error.requestId,
      /redocly no-invalid-media-type-examples/,
    ],
    [
      'an example breaking a format (only Ajv checks formats)',
      (d) => (d.paths['/v1/me'].get.responses['200'].content['application/json'].example.accountId = 'acme'),
      /^ajv: .*must match format "uuid"/,
    ],
    ['an invalid schema type', (d) => (d.components.schemas.Key.properties.name.type = 'text'), /redocly struct/],
  ];
  for (const [name, breakIt, expected] of cases) {
    const broken = document();
    breakIt(broken);
    const { errors } = await validateOpenApiDocument(broken);
    t.ok(
      errors.some((error) => expected.test(error)),
      `${name}: rejected`,
      { errors },
    );
  }
});

t.test('every request body and response body has an example', async (t) => {
  const doc = document();
  for (const [path, operations] of Object.entries<JsonObject>(doc.paths)) {
    for (const [method, operation] of Object.entries<JsonObject>(operations)) {
      const name = `${method.toUpperCase()} ${path}`;
      // src/app/health-routes.ts is another change in flight; its examples are its owner's to add.
      const media: Array<[string, JsonObject]> = Object.entries<JsonObject>(operation.requestBody?.content ?? {}).map(
        ([type, value]) => [`${name} request ${type}`, value],
      );
      for (const [status, response] of Object.entries<JsonObject>(operation.responses)) {
        for (const [type, value] of Object.entries<JsonObject>(response.content ?? {})) {
          media.push([`${name} ${status} ${type}`, value]);
        }
      }
      for (const [where, value] of media) {
        const count = value.example !== undefined ? 1 : Object.keys(value.examples ?? {}).length;
        t.ok(count > 0, `${where} has an example`);
      }
      for (const [status, response] of Object.entries<JsonObject>(operation.responses)) {
        const media = response.content?.['application/json'];
        if (media?.schema?.$ref !== '#/components/schemas/ErrorEnvelope') continue;
        for (const [example, value] of Object.entries<JsonObject>(media.examples ?? {})) {
          t.match(example, new RegExp(`^${value.value.error.code}(_\\d+)?$`), `${name} ${status}: named by its code`);
        }
      }
    }
  }
});

t.test('the examples use the real key format', async (t) => {
  const strings: string[] = [];
  const collect = (value: unknown): void => {
    if (typeof value === 'string') strings.push(value);
    else if (typeof value === 'object' && value !== null) Object.values(value).forEach(collect);
  };
  for (const example of examplesOf(document())) collect(example.value);

  const keys = strings.filter((value) => value.startsWith('kw_') && !value.includes('…'));
  t.ok(keys.length >= 2, 'full keys are shown');
  const ids = new Map<string, string>();
  for (const key of new Set(keys)) {
    const parsed = parseKey(key, 'kw');
    t.ok(parsed, `${key} parses, checksum included`);
    if (parsed) ids.set(parsed.keyId, key);
  }
  for (const hint of new Set(strings.filter((value) => value.startsWith('kw_') && value.includes('…')))) {
    const key = ids.get(hint.split('_')[1]!);
    t.ok(key, `${hint} is the hint of an example key`);
    if (key) t.equal(hint, keyHint(key), `${hint} is that key's hint`);
  }
});
