import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

/*
 * The member's examples, as a service's developer pastes them: every TypeScript
 * block of docs/fleet-members.md and of the README's section on other services
 * compiles under `strict` and `exactOptionalPropertyTypes` against the package.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

function typescriptBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const section = readme.slice(
  readme.indexOf('## Using keyward from another service'),
  readme.indexOf('## Documentation'),
);
const blocks = [
  ...typescriptBlocks(readFileSync(join(ROOT, 'docs/fleet-members.md'), 'utf8')),
  ...typescriptBlocks(section),
];

/** What the examples take as given (the request at hand, the options read elsewhere). */
const GIVEN = `
declare global {
  const app: import('fastify').FastifyInstance;
  const keywardUrl: string;
  const credential: string;
  const redisUrl: string;
  const headers: Record<string, string | undefined>;
  const clientAddress: string;
  const userAgent: string | undefined;
  const requestId: string;
  function reply(status: number, body: unknown): void;
  function setHeader(name: string, value: string): void;
  function serve(accountId: string, keyId: string, metadata?: unknown): void;
  /** A handler of the example service's own. */
  function createOrder(request: unknown, reply: unknown): Promise<unknown>;
}
export {};
`;

t.test('every example compiles under exactOptionalPropertyTypes', async (t) => {
  t.ok(blocks.length >= 4, `${blocks.length} examples`);
  const dir = join(ROOT, 'test-artifacts', 'docs-examples');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  writeFileSync(join(dir, 'given.d.ts'), GIVEN);
  blocks.forEach((block, index) => writeFileSync(join(dir, `example-${index}.ts`), `${block}\nexport {};\n`));
  const member = join(ROOT, 'packages/member/src');
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: true,
        noEmit: true,
        types: ['node'],
        paths: {
          '@keyward/member': [join(member, 'index.ts')],
          '@keyward/member/*': [join(member, '*.ts')],
        },
      },
      include: ['*.ts'],
    }),
  );
  const compiled = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir]).then(
    () => '',
    (error: { stdout?: string }) => error.stdout ?? String(error),
  );
  t.equal(compiled, '', 'tsc reports nothing');
});
