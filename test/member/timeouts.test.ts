import t from 'tap';
import { settleWithin, TIMED_OUT } from '../../packages/member/src/timeouts.js';

t.test('settleWithin: the value when in time, TIMED_OUT when not, rejections unchanged', async (t) => {
  t.equal(await settleWithin(Promise.resolve(42), 1000), 42);
  t.equal(await settleWithin(new Promise(() => {}), 10), TIMED_OUT, 'a promise that never settles');
  await t.rejects(settleWithin(Promise.reject(new Error('down')), 1000), /down/);
  const late = new Promise((resolve) => setTimeout(resolve, 200, 'late'));
  t.equal(await settleWithin(late, 10), TIMED_OUT, 'a late value is not waited for');
});
