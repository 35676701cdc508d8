export const TIMED_OUT = Symbol('timed out');

/**
 * `promise`'s value, or TIMED_OUT when `ms` passed first; a rejection passes
 * through. The timer is cleared as soon as the race is decided.
 * What `promise` was doing goes on: bound it at its source too (statement
 * timeouts, command timeouts) where that matters.
 */
export async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(resolve, ms, TIMED_OUT);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
