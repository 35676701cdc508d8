import t from 'tap';
import { RequestDeadline } from '../../src/http/management-deadline.js';
import { sleep } from '../support/wait.js';

t.test('a request that answered 503 can no longer commit', async (t) => {
  let expired = 0;
  const deadline = new RequestDeadline(20, () => expired++);
  await sleep(40);
  t.equal(expired, 1, 'the client was answered');
  t.throws(() => deadline.enterCommit(), { code: 'KW_SERVICE_UNAVAILABLE' }, 'and the transaction rolls back');
});

t.test('a request already committing is not answered 503: it waits for the outcome', async (t) => {
  let expired = 0;
  const deadline = new RequestDeadline(20, () => expired++);
  deadline.enterCommit();
  await sleep(40);
  t.equal(expired, 0);
});

t.test('a finished request clears its deadline', async (t) => {
  let expired = 0;
  const deadline = new RequestDeadline(20, () => expired++);
  deadline.clear();
  await sleep(40);
  t.equal(expired, 0);
});
