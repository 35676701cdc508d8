import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { openPostgres } from '../../src/db/database.js';
import { MemberCredentials } from '../../src/members/member-credentials.js';
import { openApiKeyChecker } from '../../packages/member/src/api-key-checker.js';
import { buildTestApp, type TestApp } from './app.js';
import { keywardProcessEnv, startServer } from './server-process.js';

/** The operator, as the audit log records a command-line action. */
export const OPERATOR = { userId: null, email: 'cli:test', clientAddress: 'local', userAgent: 'keyward-cli' };

/** keyward listening on a loopback port (members speak HTTP to it), with a member credential. */
export async function keywardForMembers(
  t: Test,
  env: Record<string, string> = {},
): Promise<TestApp & { url: string; credential: string; memberId: string }> {
  const keyward = await buildTestApp(t, { env });
  await keyward.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = keyward.app.server.address() as AddressInfo;
  const { member, credential } = await keyward.runtime.members.create('orders-api', OPERATOR);
  return { ...keyward, url: `http://127.0.0.1:${port}`, credential, memberId: member.id };
}

/**
 * `count` keyward processes on one fresh database and Redis prefix (keywardProcessEnv with `env`), and a fleet
 * member (@keyward/member in this process) joined through the first, with a credential the operator created;
 * `db` is the fleet's database, for what an operator does there. All stopped at the end of the test.
 */
export async function processFleetWithMember(t: Test, count: number, env: Record<string, string>) {
  const settings = await keywardProcessEnv(t, env);
  const instances = await Promise.all(Array.from({ length: count }, () => startServer(settings)));
  t.teardown(() => Promise.all(instances.map((instance) => instance.stop('SIGKILL'))));
  const database = openPostgres({
    url: settings.DATABASE_URL!,
    poolSize: 1,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 5000,
  });
  t.teardown(() => database.close());
  const { credential } = await new MemberCredentials(database.db).create('orders-api', OPERATOR);
  const member = await openApiKeyChecker({
    keywardUrl: instances[0]!.url,
    credential,
    redisUrl: settings.REDIS_URL!,
    logger: { warn() {}, error() {} },
  });
  t.teardown(() => member.close());
  return { env: settings, instances, member, db: database.db };
}
