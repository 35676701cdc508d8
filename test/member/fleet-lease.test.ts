import t from 'tap';
import { FleetLease } from '../../packages/member/src/fleet-lease.js';
import { hotEntryOf } from '../../src/fleet/fleet-protocol.js';
import { sleep } from '../support/wait.js';

/*
 * The lease and the hot-set wire format on their own, without Redis: the
 * rules that decide when an instance may believe its in-process cache.
 */

/** A lease whose heartbeats are recorded instead of sent; `echo()` plays Redis delivering the last one. */
function recordedLease(leaseMs = 60_000) {
  const sent: string[] = [];
  const failures: unknown[] = [];
  const lease = new FleetLease(
    leaseMs,
    async (nonce) => {
      sent.push(nonce);
    },
    (error) => failures.push(error),
  );
  return { lease, sent, failures, echo: () => lease.onEcho(sent.at(-1)!) };
}

t.test('no trust before the first echo, trust once it came back', async (t) => {
  const { lease, sent, echo } = recordedLease();
  t.notOk(lease.isTrusted(), 'a new instance trusts nothing');
  await lease.heartbeat();
  t.equal(sent.length, 1);
  t.notOk(lease.isTrusted(), 'a heartbeat sent proves nothing until its echo is back');
  echo();
  t.ok(lease.isTrusted());
});

t.test('losing the subscription ends trust at once and starts a new epoch', async (t) => {
  const { lease, echo } = recordedLease();
  await lease.heartbeat();
  echo();
  const epoch = lease.epoch;
  lease.lose();
  t.notOk(lease.isTrusted());
  t.ok(lease.epoch > epoch, 'entries cached before the loss must be re-confirmed');
});

t.test('an echo of a heartbeat sent before the loss does not restore trust', async (t) => {
  const { lease, sent } = recordedLease();
  await lease.heartbeat();
  const beforeLoss = sent.at(-1)!;
  lease.onEcho(beforeLoss);
  lease.lose();
  lease.onEcho(beforeLoss);
  t.notOk(lease.isTrusted(), 'each echo counts once');
});

t.test('a gap in the lease starts a new epoch; renewals within it do not', async (t) => {
  const { lease, echo } = recordedLease(30);
  await lease.heartbeat();
  echo();
  const first = lease.epoch;
  await lease.heartbeat();
  echo();
  t.equal(lease.epoch, first, 'renewed while held: nothing can have been missed');
  await sleep(60);
  t.notOk(lease.isTrusted(), 'the lease ran out');
  await lease.heartbeat();
  echo();
  t.ok(lease.isTrusted());
  t.ok(lease.epoch > first, 'after a gap, what was cached must be re-confirmed');
});

t.test('unknown nonces are ignored; a failed renewal is reported, not thrown', async (t) => {
  const failures: unknown[] = [];
  const lease = new FleetLease(
    60_000,
    () => Promise.reject(new Error('redis gone')),
    (error) => failures.push(error),
  );
  await lease.heartbeat();
  t.equal(failures.length, 1);
  lease.onEcho('not-a-nonce-we-sent');
  t.notOk(lease.isTrusted());
});

t.test('held() waits for the first echo, or gives up after its timeout', async (t) => {
  const { lease, echo } = recordedLease();
  t.equal(await lease.held(10), false, 'no echo: not held');
  const waiting = lease.held(60_000);
  await lease.heartbeat();
  echo();
  t.equal(await waiting, true, 'resolved by the echo, not by the timeout');
  t.equal(await lease.held(0), true, 'already held');
});

t.test('hot-set entries this version cannot read are misses', async (t) => {
  const good = { d: 'digest', a: 'account', s: 'active', e: 1_700_000_000_000 };
  t.same(hotEntryOf(JSON.stringify(good)), good);
  t.same(hotEntryOf(JSON.stringify({ d: 'digest', a: 'account', s: 'revoked' })), {
    d: 'digest',
    a: 'account',
    s: 'revoked',
  });
  for (const bad of [
    'not json',
    'null',
    JSON.stringify({ a: 'account', s: 'active' }),
    JSON.stringify({ d: 'digest', a: 'account', s: '' }),
    JSON.stringify({ d: 'digest', a: 'account', s: 'suspended' }),
    JSON.stringify({ d: 'digest', a: 'account', s: 'active', e: '2030-01-01' }),
    JSON.stringify({ d: 1, a: 'account', s: 'active' }),
  ]) {
    t.equal(hotEntryOf(bad), null, bad);
  }
});
