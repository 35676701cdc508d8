export type MemberErrorCode =
  /** The options given to the member are wrong (said before anything is contacted). */
  | 'KW_MEMBER_CONFIG'
  | 'KW_KEYWARD_UNREACHABLE'
  /** keyward refused the member credential: wrong, or revoked by the operator. */
  | 'KW_MEMBER_CREDENTIAL_REFUSED'
  /** keyward runs without Redis, so there is no fleet to join (open with `withoutFleet: true`). */
  | 'KW_NO_FLEET'
  | 'KW_KEYWARD_ERROR'
  /** Redis did not let this member listen to the fleet (unreachable, wrong password, missing ACL rights). */
  | 'KW_REDIS_UNAVAILABLE'
  /** Joined, but the lease was never confirmed: revocations might not reach this process. */
  | 'KW_FLEET_JOIN_FAILED';

/** Why a member could not open (or stopped): its code, a sentence, and the underlying error as `cause`. */
export class MemberError extends Error {
  constructor(
    readonly code: MemberErrorCode,
    message: string,
    cause?: unknown,
  ) {
    super(cause instanceof Error ? `${message}: ${cause.message}` : message, { cause });
    this.name = 'MemberError';
  }
}
