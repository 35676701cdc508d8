/**
 * Runs the key changes that take a slot (create, rotate) one at a time per account on this instance, so each
 * reads the slots its predecessor left: 50 creates at once hash 2 keys and answer 48 × 409 from the cheap
 * read, instead of 50 argon2 hashes (most refused by the bounded pool or by the transaction). Across
 * instances the transaction under the account lock still decides.
 */
export class AccountTurns {
  /** The turn of the last key change per account. */
  private readonly turns = new Map<string, Promise<void>>();

  run<T>(accountId: string, work: () => Promise<T>): Promise<T> {
    const mine = (this.turns.get(accountId) ?? Promise.resolve()).then(work);
    const done = mine.then(
      () => {},
      () => {},
    );
    this.turns.set(accountId, done);
    void done.then(() => {
      if (this.turns.get(accountId) === done) this.turns.delete(accountId);
    });
    return mine;
  }
}
