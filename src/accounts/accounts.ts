import { createHash, randomBytes } from 'node:crypto';
import { and, asc, eq, gt, like, ne } from 'drizzle-orm';
import {
  boundedTransaction,
  sqlState,
  UNIQUE_VIOLATION,
  type CommitGuard,
  type Database,
  type Transaction,
  type TransactionLimits,
} from '../db/database.js';
import { recordAudit, type Actor, type ClientContext } from '../audit/audit-log.js';
import { accounts, MAX_EMAIL_LENGTH, MAX_USER_AGENT_LENGTH, sessions, users } from '../db/schema.js';
import {
  EmailTaken,
  InvalidCredentials,
  SessionNotFound,
  SignupClosed,
  TooManySignInFailures,
  TooManySignUps,
  waitInWords,
  WeakPassword,
  WrongPassword,
} from '../http/errors.js';
import type { FailureLimiter } from '../key-check/failure-limiter.js';
import type { SecretHasher } from '../keys/secret-hashing.js';
import { passwordProblem } from './password-policy.js';
import { cutText } from '../../packages/member/src/cut-text.js';

export interface SessionUser {
  userId: string;
  accountId: string;
  email: string;
  accountName: string;
}

export interface NewSession {
  token: string;
  expiresAt: Date;
  user: SessionUser;
}

/** A 429 that says in words when to try again, and carries the seconds for the Retry-After header. */
function limited(LimitError: typeof TooManySignUps | typeof TooManySignInFailures, waitMs: number): Error {
  const seconds = Math.ceil(waitMs / 1000);
  return Object.assign(new LimitError(waitInWords(seconds)), { retryAfterSeconds: seconds });
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * How a session is named to its user (GET /v1/account/sessions): the first 16 hex digits of its token's hash.
 * 64 bits of a SHA-256 of a 256-bit token: unique among one user's sessions, and no help in finding the token.
 */
const SESSION_ID_LENGTH = 16;
function sessionIdOf(tokenHash: string): string {
  return tokenHash.slice(0, SESSION_ID_LENGTH);
}

/** A session as its user sees it on Settings → Account. */
export interface SessionSummary {
  id: string;
  createdAt: Date;
  expiresAt: Date;
  userAgent: string | null;
  clientAddress: string | null;
  current: boolean;
}

/** How the limiters name an email: a digest, so Redis never holds the address. */
function emailSubject(email: string): string {
  return createHash('sha256').update(email).digest('base64url').slice(0, 22);
}

/** The form every email is stored and compared in. */
function normalEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Sign-up, sign-in and dashboard sessions. */
export class AccountService {
  /** A real hash to verify against when the email is unknown, so both failures take as long. */
  private decoyHash: Promise<string> | null = null;

  constructor(
    private readonly db: Database,
    private readonly hasher: SecretHasher,
    private readonly sessionTtlSeconds: number,
    private readonly limits: TransactionLimits,
    private readonly signupOpen: boolean,
    /** Failed sign-ins per email digest and per client address. */
    private readonly signInLimits: { byEmail: FailureLimiter; byAddress: FailureLimiter },
    /** Sign-up attempts per client address and per email digest. */
    private readonly signUpLimits: { byAddress: FailureLimiter; byEmail: FailureLimiter },
  ) {}

  /** Made on first use, through the argon2 pool like any hash; made again if that attempt was refused. */
  private decoy(): Promise<string> {
    const decoy = (this.decoyHash ??= this.hasher.hash(randomBytes(16).toString('hex')));
    decoy.catch(() => {
      if (this.decoyHash === decoy) this.decoyHash = null;
    });
    return decoy;
  }

  async signUp(
    input: { email: string; password: string; accountName: string },
    client: ClientContext,
    guard?: CommitGuard,
  ): Promise<NewSession> {
    if (!this.signupOpen) throw new SignupClosed();
    // A weak password is refused before anything is counted: the answer depends on the request alone.
    const problem = passwordProblem(input.password, { email: input.email, accountName: input.accountName });
    if (problem !== null) throw new WeakPassword(problem);
    // Every attempt counts, taken email or not, per address and per email: each costs an argon2 hash and
    // says whether an email exists. The 429 comes before any lookup, so it is the same for both.
    const now = Date.now();
    const email = emailSubject(normalEmail(input.email));
    const waitMs = Math.max(
      this.signUpLimits.byAddress.retryAfterMs(client.clientAddress, now),
      this.signUpLimits.byEmail.retryAfterMs(email, now),
    );
    if (waitMs > 0) throw limited(TooManySignUps, waitMs);
    this.signUpLimits.byAddress.recordFailure(client.clientAddress, now);
    this.signUpLimits.byEmail.recordFailure(email, now);
    return this.createAccount(input, client, guard);
  }

  /**
   * Creates an account and its first user, signed in; also how operators add accounts when sign-up is
   * closed. A taken email costs the same argon2 hash as a new one (hashed first, refused by the unique
   * index), so its answer takes as long.
   */
  async createAccount(
    input: { email: string; password: string; accountName: string },
    client: ClientContext,
    guard?: CommitGuard,
  ): Promise<NewSession> {
    const problem = passwordProblem(input.password, { email: input.email, accountName: input.accountName });
    if (problem !== null) throw new WeakPassword(problem);
    const email = normalEmail(input.email);
    const passwordHash = await this.hasher.hash(input.password);
    try {
      return await boundedTransaction(this.db, this.limits, guard, async (tx) => {
        const [account] = await tx.insert(accounts).values({ name: input.accountName.trim() }).returning();
        const [created] = await tx.insert(users).values({ accountId: account!.id, email, passwordHash }).returning();
        const user = { userId: created!.id, accountId: account!.id, email, accountName: account!.name };
        await recordAudit(
          tx,
          { ...client, userId: user.userId, email },
          { accountId: user.accountId, action: 'account.created' },
        );
        return this.startSession(tx, user, client);
      });
    } catch (error) {
      if (sqlState(error) === UNIQUE_VIOLATION) throw new EmailTaken();
      throw error;
    }
  }

  /** 429 while the email or the address has failed too often (sign-in and password change share the limits). */
  private refuseWhileSignInLimited(subject: string, clientAddress: string, now: number): void {
    const waitMs = Math.max(
      this.signInLimits.byEmail.retryAfterMs(subject, now),
      this.signInLimits.byAddress.retryAfterMs(clientAddress, now),
    );
    if (waitMs > 0) throw limited(TooManySignInFailures, waitMs);
  }

  private recordSignInFailure(subject: string, clientAddress: string, now: number): void {
    this.signInLimits.byEmail.recordFailure(subject, now);
    this.signInLimits.byAddress.recordFailure(clientAddress, now);
  }

  /**
   * Signs in. Failures are counted per email and per client address across
   * the fleet; past either limit the answer is 429, the same whether or not
   * the email exists, and no password is checked.
   */
  async logIn(input: { email: string; password: string }, client: ClientContext): Promise<NewSession> {
    const email = normalEmail(input.email);
    const subject = emailSubject(email);
    const now = Date.now();
    this.refuseWhileSignInLimited(subject, client.clientAddress, now);
    const [row] = await this.db
      .select({
        userId: users.id,
        accountId: users.accountId,
        email: users.email,
        passwordHash: users.passwordHash,
        accountName: accounts.name,
      })
      .from(users)
      .innerJoin(accounts, eq(accounts.id, users.accountId))
      .where(eq(users.email, email));
    const hash = row?.passwordHash ?? (await this.decoy());
    const passwordMatches = await this.hasher.verify(hash, input.password);
    if (!row || !passwordMatches) {
      this.recordSignInFailure(subject, client.clientAddress, now);
      // Recorded for the account when the email is one of its users; never revealed to the caller.
      await recordAudit(this.db, client, {
        accountId: row?.accountId ?? null,
        action: 'session.failed',
        details: { email: cutText(email, MAX_EMAIL_LENGTH) },
      });
      throw new InvalidCredentials();
    }
    const { passwordHash: _ignored, ...user } = row;
    return this.db.transaction((tx) => this.startSession(tx, user, client));
  }

  private async startSession(tx: Transaction, user: SessionUser, client: ClientContext): Promise<NewSession> {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + this.sessionTtlSeconds * 1000);
    await tx.insert(sessions).values({
      tokenHash: hashToken(token),
      userId: user.userId,
      expiresAt,
      userAgent: client.userAgent === null ? null : cutText(client.userAgent, MAX_USER_AGENT_LENGTH),
      clientAddress: client.clientAddress,
    });
    await recordAudit(
      tx,
      { ...client, userId: user.userId, email: user.email },
      {
        accountId: user.accountId,
        action: 'session.created',
      },
    );
    return { token, expiresAt, user };
  }

  /** The signed-in user for a session cookie's token, or null when unknown or expired. */
  async findSession(token: string): Promise<SessionUser | null> {
    const [row] = await this.db
      .select({ userId: users.id, accountId: users.accountId, email: users.email, accountName: accounts.name })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .innerJoin(accounts, eq(accounts.id, users.accountId))
      .where(and(eq(sessions.tokenHash, hashToken(token)), gt(sessions.expiresAt, new Date())));
    return row ?? null;
  }

  async logOut(token: string, actor: Actor, accountId: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.delete(sessions).where(eq(sessions.tokenHash, hashToken(token)));
      await recordAudit(tx, actor, { accountId, action: 'session.ended' });
    });
  }

  /**
   * Changes the signed-in user's password after checking the current one, and ends the user's other
   * sessions (whoever else was signed in with the old password is signed out); the current one stays.
   * Wrong current passwords count as failed sign-ins (same limits), so a stolen session cannot guess it.
   */
  async changePassword(
    input: { token: string; user: SessionUser; currentPassword: string; newPassword: string },
    actor: Actor,
  ): Promise<{ otherSessionsEnded: number }> {
    // The sign-up rules, checked first: a weak new password costs no argon2 and counts as no failure.
    const problem = passwordProblem(input.newPassword, {
      email: input.user.email,
      accountName: input.user.accountName,
    });
    if (problem !== null) throw new WeakPassword(problem);
    const subject = emailSubject(input.user.email);
    const now = Date.now();
    this.refuseWhileSignInLimited(subject, actor.clientAddress, now);
    const [row] = await this.db
      .select({ passwordHash: users.passwordHash })
      .from(users)
      .where(eq(users.id, input.user.userId));
    if (!row || !(await this.hasher.verify(row.passwordHash, input.currentPassword))) {
      this.recordSignInFailure(subject, actor.clientAddress, now);
      throw new WrongPassword();
    }
    const passwordHash = await this.hasher.hash(input.newPassword);
    return boundedTransaction(this.db, this.limits, undefined, async (tx) => {
      await tx.update(users).set({ passwordHash }).where(eq(users.id, input.user.userId));
      const ended = await this.deleteOtherSessions(tx, input.user.userId, input.token);
      await recordAudit(tx, actor, {
        accountId: input.user.accountId,
        action: 'password.changed',
        details: { otherSessionsEnded: ended },
      });
      return { otherSessionsEnded: ended };
    });
  }

  /** The user's sessions that have not expired, oldest first; `current` marks the one of `token`. */
  async listSessions(token: string, user: SessionUser): Promise<SessionSummary[]> {
    const currentHash = hashToken(token);
    const rows = await this.db
      .select({
        tokenHash: sessions.tokenHash,
        createdAt: sessions.createdAt,
        expiresAt: sessions.expiresAt,
        userAgent: sessions.userAgent,
        clientAddress: sessions.clientAddress,
      })
      .from(sessions)
      .where(and(eq(sessions.userId, user.userId), gt(sessions.expiresAt, new Date())))
      .orderBy(asc(sessions.createdAt), asc(sessions.tokenHash));
    return rows.map(({ tokenHash, ...row }) => ({
      id: sessionIdOf(tokenHash),
      ...row,
      current: tokenHash === currentHash,
    }));
  }

  /**
   * Signs out one of the user's sessions, named by its id (listSessions); `current` says whether it was the
   * session of `token` (the caller then clears its cookie). 404 when the user has no such session.
   */
  async endSession(token: string, user: SessionUser, sessionId: string, actor: Actor): Promise<{ current: boolean }> {
    return boundedTransaction(this.db, this.limits, undefined, async (tx) => {
      // The id is hex (checked by the route's schema), so it holds no LIKE wildcard.
      const deleted = await tx
        .delete(sessions)
        .where(and(eq(sessions.userId, user.userId), like(sessions.tokenHash, `${sessionId}%`)))
        .returning({ tokenHash: sessions.tokenHash });
      if (deleted.length === 0) throw new SessionNotFound();
      const current = deleted.some((row) => row.tokenHash === hashToken(token));
      await recordAudit(tx, actor, {
        accountId: user.accountId,
        action: 'session.ended',
        details: { session: sessionId },
      });
      return { current };
    });
  }

  /**
   * The operator's way back in for a user who forgot their password (`keyward reset-password`): sets the new
   * password (the sign-up rules, checked by the caller) and signs out every session of the user. Null when no
   * user has that email.
   */
  async resetPassword(
    email: string,
    newPassword: string,
    actor: Actor,
  ): Promise<{ user: SessionUser; sessionsEnded: number } | null> {
    const [user] = await this.db
      .select({ userId: users.id, accountId: users.accountId, email: users.email, accountName: accounts.name })
      .from(users)
      .innerJoin(accounts, eq(accounts.id, users.accountId))
      .where(eq(users.email, normalEmail(email)));
    if (!user) return null;
    const problem = passwordProblem(newPassword, { email: user.email, accountName: user.accountName });
    if (problem !== null) throw new WeakPassword(problem);
    const passwordHash = await this.hasher.hash(newPassword);
    return boundedTransaction(this.db, this.limits, undefined, async (tx) => {
      await tx.update(users).set({ passwordHash }).where(eq(users.id, user.userId));
      const deleted = await tx
        .delete(sessions)
        .where(eq(sessions.userId, user.userId))
        .returning({ tokenHash: sessions.tokenHash });
      await recordAudit(tx, actor, {
        accountId: user.accountId,
        action: 'password.changed',
        details: { via: 'reset-password', sessionsEnded: deleted.length },
      });
      return { user, sessionsEnded: deleted.length };
    });
  }

  /** Signs the user out everywhere but here (this session's token). */
  async endOtherSessions(token: string, user: SessionUser, actor: Actor): Promise<{ sessionsEnded: number }> {
    return boundedTransaction(this.db, this.limits, undefined, async (tx) => {
      const ended = await this.deleteOtherSessions(tx, user.userId, token);
      await recordAudit(tx, actor, {
        accountId: user.accountId,
        action: 'session.others_ended',
        details: { sessionsEnded: ended },
      });
      return { sessionsEnded: ended };
    });
  }

  private async deleteOtherSessions(tx: Transaction, userId: string, token: string): Promise<number> {
    const deleted = await tx
      .delete(sessions)
      .where(and(eq(sessions.userId, userId), ne(sessions.tokenHash, hashToken(token))))
      .returning({ tokenHash: sessions.tokenHash });
    return deleted.length;
  }

  /** The account of a user's email, or an account id as given; null when neither exists. */
  async findAccountId(emailOrAccountId: string): Promise<string | null> {
    const value = emailOrAccountId.trim().toLowerCase();
    const [row] = /^[0-9a-f-]{36}$/.test(value)
      ? await this.db.select({ accountId: accounts.id }).from(accounts).where(eq(accounts.id, value))
      : await this.db.select({ accountId: users.accountId }).from(users).where(eq(users.email, value));
    return row?.accountId ?? null;
  }
}
