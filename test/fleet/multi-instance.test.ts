import { performance } from 'node:perf_hooks';
import t from 'tap';
import { eventually } from '../support/wait.js';
import { keywardProcessEnv, startServer, type ServerProcess } from '../support/server-process.js';

/*
 * Three keyward instances as separate processes on one Postgres and Redis.
 * Clients hammer all of them with one key; the key is revoked through one
 * instance. No instance may accept the key in a request sent after the
 * revoke call returned.
 */
t.test('a revocation is effective on every instance before the revoke call returns', async (t) => {
  const env = await keywardProcessEnv(t, {
    KEYWARD_FAILED_AUTH_LIMIT: '1000000', // every refusal here should be a 401, not a 429
  });
  const instances: ServerProcess[] = await Promise.all([startServer(env), startServer(env), startServer(env)]);
  t.teardown(() => Promise.all(instances.map((instance) => instance.stop('SIGKILL'))));
  const [first] = instances;

  const signup = await fetch(`${first!.url}/v1/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'fleet@example.com', password: 'correct horse battery', accountName: 'Fleet' }),
  });
  const cookie = signup.headers.get('set-cookie')!.split(';')[0]!;
  const created = await fetch(`${first!.url}/v1/keys`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json' },
    body: '{}',
  });
  const { apiKey, key } = (await created.json()) as { apiKey: string; key: { id: string } };

  // Warm every instance so the key is served from each one's in-process cache.
  for (const instance of instances) {
    const response = await fetch(`${instance.url}/v1/me`, { headers: { 'x-api-key': apiKey } });
    t.equal(response.status, 200, `${instance.url} accepts the key before the revoke`);
  }

  interface Sample {
    instance: number;
    sentAt: number;
    answeredAt: number;
    status: number;
  }
  const samples: Sample[] = [];
  let hammering = true;
  const hammer = async (instance: number, url: string) => {
    while (hammering) {
      const sentAt = performance.now();
      const response = await fetch(`${url}/v1/me`, { headers: { 'x-api-key': apiKey } });
      await response.arrayBuffer();
      samples.push({ instance, sentAt, answeredAt: performance.now(), status: response.status });
    }
  };
  const clients = instances.flatMap((instance, index) => [hammer(index, instance.url), hammer(index, instance.url)]);
  // Every instance has served the key before the revoke (counted, not timed: a loaded machine is slower).
  const servedBy = (index: number) => samples.some((sample) => sample.instance === index && sample.status === 200);
  t.ok(await eventually(() => instances.every((_, index) => servedBy(index)), 10_000), 'every instance serves it');

  // Revoke through the last instance, so the revoker is not the one that created the key.
  const revoker = instances[2]!;
  const revokeStartedAt = performance.now();
  const revoke = await fetch(`${revoker.url}/v1/keys/${key.id}`, { method: 'DELETE', headers: { cookie } });
  const revokeReturnedAt = performance.now();
  t.equal(revoke.status, 200);

  // And has been asked a few times since it returned.
  const askedAfter = (index: number) =>
    samples.filter((sample) => sample.instance === index && sample.sentAt >= revokeReturnedAt).length >= 5;
  await eventually(() => instances.every((_, index) => askedAfter(index)), 10_000);
  hammering = false;
  await Promise.all(clients);

  const acceptedAfterReturn = samples.filter((sample) => sample.sentAt >= revokeReturnedAt && sample.status === 200);
  t.equal(acceptedAfterReturn.length, 0, 'no request sent after the revoke returned was accepted, on any instance');
  for (let index = 0; index < instances.length; index++) {
    const mine = samples.filter((sample) => sample.instance === index);
    // Answered before the revoke began (one sent just before it may be answered after the revoker applied it).
    const before = mine.filter((sample) => sample.answeredAt < revokeStartedAt);
    const after = mine.filter((sample) => sample.sentAt >= revokeReturnedAt);
    t.ok(
      before.length > 0 && before.every((sample) => sample.status === 200),
      `instance ${index} served the key before`,
    );
    t.ok(after.length > 0 && after.every((sample) => sample.status === 401), `instance ${index} refused it after`);
    const firstRejection = mine.find((sample) => sample.status === 401);
    t.comment(
      `instance ${index}: ${mine.length} requests; first rejection sent ` +
        `${(firstRejection!.sentAt - revokeStartedAt).toFixed(1)} ms after the revoke started`,
    );
  }
  t.comment(
    `revoke call took ${(revokeReturnedAt - revokeStartedAt).toFixed(1)} ms; ${samples.length} requests in all`,
  );
});
