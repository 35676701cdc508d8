import t, { type Test } from 'tap';
import { accountPlans } from '../../src/db/schema.js';
import { isKeyRefusal } from '../../packages/member/src/api-key-checker.js';
import type { KeyRefusal } from '../../packages/member/src/refusals.js';
import { signUpOver } from '../support/http.js';
import { processFleetWithMember } from '../support/members.js';
import { PrivateRedis } from '../support/redis-server.js';
import { keywardProcessEnv, startServer, type ServerProcess } from '../support/server-process.js';
import { sleep } from '../support/wait.js';

/*
 * Rate limits across a fleet (issue #26), asserted on counts, never on timings: four keyward processes and a
 * fleet member (@keyward/member in this process) on one Postgres and Redis, every one of them called far
 * above the limits. Each response is counted in the window it arrived in; windows the load covered in full
 * must each admit between 95 % and 101 % (+1) of the limit, fleet-wide.
 */

const WINDOW_SECONDS = 2;
const WINDOW_MS = WINDOW_SECONDS * 1000;

type Caller = (apiKey: string) => Promise<{ admitted: boolean; refusal?: Pick<KeyRefusal, 'code'> }>;

/**
 * Calls as fast as each caller answers for `windows` whole windows. A request is decided somewhere between
 * when it was sent and when its answer arrived: one that began and ended in one window is that window's for
 * sure; one that spans a boundary (a busy machine answers late) could be either's. So each window gets a
 * range of admitted requests: `sure` (wholly inside it) to `sure` plus those spanning one of its ends.
 */
async function load(callers: Caller[], keys: Record<string, () => string>, windows: number) {
  const sure = new Map<string, Map<number, number>>();
  const spanning = new Map<string, Map<number, number>>();
  const refused = new Map<string, number>();
  const add = (counts: Map<string, Map<number, number>>, name: string, window: number) => {
    const byWindow = counts.get(name) ?? new Map<number, number>();
    byWindow.set(window, (byWindow.get(window) ?? 0) + 1);
    counts.set(name, byWindow);
  };
  // One whole window of warm-up first: the first checks of a key are cold (argon2).
  const start = (Math.ceil(Date.now() / WINDOW_MS) + 1) * WINDOW_MS;
  const end = start + windows * WINDOW_MS;
  let calling = true;
  const loops = callers.flatMap((call) =>
    Object.entries(keys).map(async ([name, apiKey]) => {
      while (calling) {
        const sent = Math.floor(Date.now() / WINDOW_MS);
        const { admitted: ok } = await call(apiKey());
        const answered = Math.floor(Date.now() / WINDOW_MS);
        if (ok) {
          if (sent === answered) add(sure, name, sent);
          else for (let window = sent; window <= answered; window++) add(spanning, name, window);
        } else {
          refused.set(name, (refused.get(name) ?? 0) + 1);
          await sleep(2); // a refusal answers at once: leave the cores to the instances
        }
      }
    }),
  );
  await sleep(end - Date.now());
  calling = false;
  await Promise.all(loops);
  // The windows wholly inside [start, end).
  const whole = Array.from({ length: windows }, (_, index) => start / WINDOW_MS + index);
  const sum = (counts: Map<string, Map<number, number>>, names: string[], window: number) =>
    names.reduce((total, name) => total + (counts.get(name)?.get(window) ?? 0), 0);
  const perWindow = (...names: string[]): AdmittedRange[] =>
    whole.map((window) => {
      const least = sum(sure, names, window);
      return { least, most: least + sum(spanning, names, window) };
    });
  return { perWindow, refused };
}

/** What a window admitted, as far as the client can tell (see load). */
interface AdmittedRange {
  least: number;
  most: number;
}

function overHttp(instance: ServerProcess): Caller {
  return async (apiKey) => {
    const response = await fetch(`${instance.url}/v1/verify`, { headers: { 'x-api-key': apiKey } });
    await response.arrayBuffer();
    return { admitted: response.status === 204 };
  };
}

async function generate(baseUrl: string, cookie: string, body: object) {
  const response = await fetch(`${baseUrl}/v1/keys`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status !== 201) throw new Error(await response.text());
  return (await response.json()) as { apiKey: string; key: { id: string } };
}

/** The bound, as far as the client can tell: never surely above 101 % (+1), never surely below 95 %. */
function withinLimit(t: Test, ranges: AdmittedRange[], limit: number, what: string) {
  for (const [index, { least, most }] of ranges.entries()) {
    const counted = least === most ? `${least}` : `${least} to ${most}`;
    t.ok(
      least <= Math.floor(1.01 * limit) + 1 && most >= 0.95 * limit,
      `${what}, window ${index + 1}: ${counted} admitted of a limit of ${limit}`,
    );
  }
}

t.test('four instances and a member admit each limit exactly, fleet-wide, under load above it', async (t) => {
  const { instances, member, db } = await processFleetWithMember(t, 4, {
    KEYWARD_FAILED_AUTH_LIMIT: '1000000',
    // A busy 2-core machine can be slow to answer; this test is about counts, not about the fallback.
    KEYWARD_RATE_LIMIT_TIMEOUT_MS: '5000',
  });
  let memberRefusal: KeyRefusal | undefined;
  const viaMember: Caller = async (apiKey) => {
    const result = await member.check(apiKey, '10.0.0.1');
    await new Promise((resolve) => setImmediate(resolve)); // a cached key answers synchronously
    if (isKeyRefusal(result)) memberRefusal = result;
    return { admitted: !isKeyRefusal(result) };
  };
  const callers = [...instances.map(overHttp), viaMember];

  const first = instances[0]!.url;
  // Account 1: key A with a limit of its own, key B with none.
  const one = await signUpOver(first, 'limits-one@example.com');
  const keyA = await generate(first, one.cookie, {
    name: 'A',
    rateLimit: { requests: 30, windowSeconds: WINDOW_SECONDS },
  });
  const keyB = await generate(first, one.cookie, { name: 'B' });
  // Account 2, on a plan of 80 requests per window: key C, rotated while the load runs (both count).
  const two = await signUpOver(first, 'limits-two@example.com');
  await db
    .insert(accountPlans)
    .values({ accountId: two.accountId, rateLimitRequests: 80, rateLimitWindowSeconds: WINDOW_SECONDS });
  const keyC = await generate(first, two.cookie, { name: 'C' });
  let keyD: string | undefined;
  setTimeout(() => {
    void fetch(`${instances[1]!.url}/v1/keys/${keyC.key.id}/rotate`, {
      method: 'POST',
      headers: { cookie: two.cookie, 'content-type': 'application/json' },
      body: '{}',
    })
      .then((response) => response.json() as Promise<{ apiKey: string }>)
      .then((body) => (keyD = body.apiKey));
  }, WINDOW_MS * 3); // inside the counted windows, which start one to two windows from now

  const { perWindow, refused } = await load(
    callers,
    { A: () => keyA.apiKey, B: () => keyB.apiKey, C: () => keyC.apiKey, D: () => keyD ?? keyC.apiKey },
    4,
  );
  withinLimit(t, perWindow('A'), 30, "key A's own limit");
  t.ok(
    perWindow('B').every(({ most }) => most > 30),
    `key B is not held to key A's limit: ${perWindow('B')
      .map(({ most }) => most)
      .join(', ')} admitted per window`,
  );
  withinLimit(t, perWindow('C', 'D'), 80, "account 2's limit across the rotation of C to D");
  t.ok(keyD, 'the rotation happened during the load');
  t.ok(
    (refused.get('A') ?? 0) > 0 && (refused.get('C') ?? 0) + (refused.get('D') ?? 0) > 0,
    'the load was above the limits',
  );
  t.equal(memberRefusal?.statusCode, 429, "the member's refusal is a 429");
  t.match(memberRefusal?.rateLimit?.policy, /^"(key|account)";q=\d+;w=2$/, 'with the RateLimit-Policy field');
  t.ok((memberRefusal?.retryAfterSeconds ?? 0) >= 1, 'and Retry-After');

  const refusedOverHttp = await fetch(`${instances[3]!.url}/v1/verify`, { headers: { 'x-api-key': keyA.apiKey } });
  if (refusedOverHttp.status === 429) {
    t.match(refusedOverHttp.headers.get('ratelimit'), /^"(key|account)";r=0;t=\d+$/);
  }
});

t.test('a Redis outage during load neither refuses everything nor admits without bound', async (t) => {
  const redis = await PrivateRedis.start(t);
  const env = await keywardProcessEnv(t, {
    REDIS_URL: redis.url,
    KEYWARD_FAILED_AUTH_LIMIT: '1000000',
    KEYWARD_RATE_LIMIT_TIMEOUT_MS: '250',
  });
  const instances = await Promise.all([startServer(env), startServer(env)]);
  t.teardown(() => Promise.all(instances.map((instance) => instance.stop('SIGKILL'))));
  const first = instances[0]!.url;
  const { cookie } = await signUpOver(first, 'outage@example.com');
  const key = await generate(first, cookie, { rateLimit: { requests: 40, windowSeconds: WINDOW_SECONDS } });

  const before = await load(instances.map(overHttp), { K: () => key.apiKey }, 1);
  withinLimit(t, before.perWindow('K'), 40, 'with Redis');

  await redis.stop();
  await sleep(WINDOW_MS); // the instances notice in their next reservation
  const during = await load(instances.map(overHttp), { K: () => key.apiKey }, 2);
  for (const [index, { least, most }] of during.perWindow('K').entries()) {
    // Each instance admits its share: 40 / 2 instances. Bounded, and never nothing.
    t.ok(
      most > 0 && least <= 2 * 40,
      `without Redis, window ${index + 1}: ${least} to ${most} admitted of a limit of 40`,
    );
  }
  const ready = (await (await fetch(`${first}/readyz`)).json()) as { status: string; checks: { rateLimits: string } };
  t.equal(ready.status, 'degraded');
  t.equal(ready.checks.rateLimits, 'per-instance share');
});
