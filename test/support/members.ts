import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { buildTestApp, type TestApp } from './app.js';

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
