import t from 'tap';
import { RequestDeadline } from '../../src/http/management-deadline.js';
import { sleep } from '../support/wait.js';

/** A 20 ms deadline, 40 ms after `act` (what the request did meanwhile), and how often it expired. */
async function deadlineAfter(act: (deadline: RequestDeadline) => void = () => {}) {
  let expired = 0;
  const deadline = new RequestDeadline(20, () => expired++);
  act(deadline);
  await sleep(40);
  return { deadline, expired };
}

t.test('a request that answered 503 can no longer commit', async (t) => {
  const { deadline, expired } = await deadlineAfter();
  t.equal(expired, 1, 'the client was answered');
  t.throws(() => deadline.enterCommit(), { code: 'KW_SERVICE_UNAVAILABLE' }, 'and the transaction rolls back');
});

t.test('a request already committing is not answered 503: it waits for the outcome', async (t) => {
  t.equal((await deadlineAfter((deadline) => deadline.enterCommit())).expired, 0);
});

t.test('a finished request clears its deadline', async (t) => {
  t.equal((await deadlineAfter((deadline) => deadline.clear())).expired, 0);
});
