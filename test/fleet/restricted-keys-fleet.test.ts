import { performance } from 'node:perf_hooks';
import t from 'tap';
import { isKeyRefusal } from '../../packages/member/src/api-key-checker.js';
import { missingScopesOf } from '../../packages/member/src/key-restriction.js';
import { signUpOver } from '../support/http.js';
import { processFleetWithMember } from '../support/members.js';
import { eventually } from '../support/wait.js';

/*
 * A narrowed key is a partial revocation and gets the same guarantee. Three keyward instances (processes)
 * and a fleet member (@keyward/member in this process) on one Postgres and Redis; clients keep calling
 * forward auth on every instance with a scope and from a network the key is about to lose, and the member
 * checks it too. The key's scopes and networks are narrowed by PATCH through one instance: no request sent
 * after the PATCH returned may be granted what was taken away, anywhere.
 */
t.test('a narrowing PATCH is enforced on every instance and member before it returns', async (t) => {
  const { instances, member } = await processFleetWithMember(t, 3, {
    KEYWARD_FAILED_AUTH_LIMIT: '1000000',
    // Forward auth's caller is the test: the client address is the X-Forwarded-For one hop in.
    KEYWARD_TRUSTED_PROXY_HOPS: '1',
  });

  const first = instances[0]!;
  const { cookie } = await signUpOver(first.url, 'narrow@example.com');
  const created = await fetch(`${first.url}/v1/keys`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json' },
    body: JSON.stringify({ scopes: ['orders:read', 'orders:write'], allowedNetworks: ['10.0.0.0/8', '192.0.2.0/24'] }),
  });
  const { apiKey, key } = (await created.json()) as { apiKey: string; key: { id: string } };

  // What is about to be taken away: the scope orders:write, and the network 192.0.2.0/24.
  const asks = [
    { scopes: 'orders:write', from: '10.1.1.1' },
    { scopes: 'orders:read', from: '192.0.2.7' },
  ];
  interface Sample {
    where: string;
    sentAt: number;
    granted: boolean;
  }
  const samples: Sample[] = [];
  let calling = true;
  const callInstance = async (index: number, ask: (typeof asks)[number]) => {
    while (calling) {
      const sentAt = performance.now();
      const response = await fetch(`${instances[index]!.url}/v1/verify`, {
        headers: { 'x-api-key': apiKey, 'x-keyward-required-scopes': ask.scopes, 'x-forwarded-for': ask.from },
      });
      await response.arrayBuffer();
      samples.push({
        where: `instance ${index} (${ask.scopes} from ${ask.from})`,
        sentAt,
        granted: response.status === 204,
      });
    }
  };
  const callMember = async (ask: (typeof asks)[number]) => {
    while (calling) {
      const sentAt = performance.now();
      const result = await member.check(apiKey, ask.from);
      const granted = !isKeyRefusal(result) && missingScopesOf(result, [ask.scopes]).length === 0;
      samples.push({ where: `member (${ask.scopes} from ${ask.from})`, sentAt, granted });
      await new Promise((resolve) => setImmediate(resolve)); // a cache hit answers synchronously
    }
  };
  const clients = [
    ...instances.flatMap((_, index) => asks.map((ask) => callInstance(index, ask))),
    ...asks.map(callMember),
  ];
  const places = [
    ...instances.flatMap((_, index) => asks.map((ask) => `instance ${index} (${ask.scopes} from ${ask.from})`)),
    ...asks.map((ask) => `member (${ask.scopes} from ${ask.from})`),
  ];
  const grantedAt = (where: string) => samples.some((sample) => sample.where === where && sample.granted);
  t.ok(await eventually(() => places.every(grantedAt), 15_000), 'every instance and the member grant both before');

  const narrowStartedAt = performance.now();
  const narrowed = await fetch(`${instances[2]!.url}/v1/keys/${key.id}`, {
    method: 'PATCH',
    headers: { cookie, 'content-type': 'application/json' },
    body: JSON.stringify({ scopes: ['orders:read'], allowedNetworks: ['10.0.0.0/8'] }),
  });
  const narrowReturnedAt = performance.now();
  t.equal(narrowed.status, 200);

  const askedAfter = (where: string) =>
    samples.filter((sample) => sample.where === where && sample.sentAt >= narrowReturnedAt).length >= 5;
  await eventually(() => places.every(askedAfter), 15_000);
  calling = false;
  await Promise.all(clients);

  const grantedAfter = samples.filter((sample) => sample.sentAt >= narrowReturnedAt && sample.granted);
  t.same(
    grantedAfter.map((sample) => sample.where),
    [],
    'nothing taken away was granted after the PATCH returned',
  );
  for (const where of places) {
    t.ok(askedAfter(where), `${where} was asked after the PATCH`);
  }
  // What stayed is still granted everywhere.
  for (const instance of instances) {
    const kept = await fetch(`${instance.url}/v1/verify`, {
      headers: { 'x-api-key': apiKey, 'x-keyward-required-scopes': 'orders:read', 'x-forwarded-for': '10.2.3.4' },
    });
    t.equal(kept.status, 204, `${instance.url} still grants orders:read from 10.0.0.0/8`);
  }
  const kept = await member.check(apiKey, '10.2.3.4');
  t.ok(!isKeyRefusal(kept) && missingScopesOf(kept, ['orders:read']).length === 0, 'the member still grants it');
  t.comment(`PATCH took ${(narrowReturnedAt - narrowStartedAt).toFixed(1)} ms; ${samples.length} checks in all`);
});
