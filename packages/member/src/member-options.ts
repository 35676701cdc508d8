/** The member's options, checked before anything is contacted: a wrong one is an error at start, with its cause. */
import { MemberError } from './member-error.js';
import type { MemberLog } from './member-log.js';

export interface MemberOptions {
  /** keyward's base URL as this service reaches it, e.g. `https://keyward.internal`. */
  keywardUrl: string;
  /** The member credential (`kwm_…`) the operator created with `keyward members create <name>`. */
  credential: string;
  /**
   * Redis as this service reaches it, with the member ACL user's name and
   * password (docs/fleet-members.md): where revocations are heard. Required,
   * unless `withoutFleet` says otherwise.
   */
  redisUrl?: string;
  /**
   * Check every key with keyward and cache no valid key in this process: no
   * Redis needed, every request costs a round trip to keyward. Logs a warning
   * at start. For one process or tests; never reached by a missing setting.
   */
  withoutFleet?: boolean;
  /** Longest a call to keyward may take (default 2000 ms); a cold check that takes longer answers 503. */
  requestTimeoutMs?: number;
  /** A pino logger or anything with `warn(details, message)` and `error(details, message)`; default: standard error. */
  logger?: MemberLog;
}

const CREDENTIAL_PATTERN = /^kwm_[0-9A-Za-z]{16}_[A-Za-z0-9_-]{32}$/;
/** Longest a call to keyward may take when the options do not say. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 2000;

function configError(message: string): MemberError {
  return new MemberError('KW_MEMBER_CONFIG', `keyward member: ${message}`);
}

/** The options, checked before anything is contacted: a wrong one is an error at start, with its cause. */
export function validated(options: MemberOptions): { url: URL; timeoutMs: number } {
  if (typeof options !== 'object' || options === null) throw configError('options are required');
  let url: URL;
  try {
    url = new URL(String(options.keywardUrl));
  } catch {
    throw configError(`keywardUrl must be keyward's URL (http or https), not ${JSON.stringify(options.keywardUrl)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw configError('keywardUrl must be http or https');
  if (typeof options.credential !== 'string' || !CREDENTIAL_PATTERN.test(options.credential)) {
    throw configError('credential must be a member credential (kwm_…) from `keyward members create <name>`');
  }
  if (options.withoutFleet !== undefined && typeof options.withoutFleet !== 'boolean') {
    throw configError('withoutFleet must be true or false');
  }
  if (!options.withoutFleet && (typeof options.redisUrl !== 'string' || options.redisUrl === '')) {
    throw configError(
      'redisUrl is required: without it revocations cannot reach this process. ' +
        '(To check every key with keyward instead, with no cache, pass withoutFleet: true.)',
    );
  }
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) {
    throw configError('requestTimeoutMs must be an integer from 1 to 60000');
  }
  return { url, timeoutMs };
}
