import { isRecord } from './util.js';

/**
 * The child side of `Worker`: answers each `{ id, ...request }` with
 * `{ id, result }` or `{ id, error }`, one at a time, and exits with its parent.
 */
export function serveRequests<Request>(handle: (request: Request) => Promise<unknown>): void {
  let queue = Promise.resolve();
  process.on('message', (message: unknown) => {
    if (!isRecord(message) || typeof message.id !== 'number') return;
    const id = message.id;
    queue = queue.then(async () => {
      try {
        const result = await handle(message as Request);
        process.send?.({ id, result });
      } catch (error) {
        process.send?.({ id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      }
    });
  });
  process.once('disconnect', () => process.exit(0));
  process.send?.({ ready: true });
}
