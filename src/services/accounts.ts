import { createHash, randomBytes } from 'node:crypto';
import { and, eq, gt, lt } from 'drizzle-orm';
import {
  boundedTransaction,
  sqlState,
  UNIQUE_VIOLATION,
  type CommitGuard,
  type Database,
  type TransactionLimits,
} from '../db/database.js';
import { accounts, sessions, users } from '../db/schema.js';
import { EmailTaken, InvalidCredentials } from '../errors.js';
import type { SecretHasher } from '../keys/secret-hashing.js';

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

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Sign-up, sign-in and dashboard sessions. */
export class AccountService {
  /** A real hash to verify against when the email is unknown, so both failures take as long. */
  private decoyHash: Promise<string>;

  constructor(
    private readonly db: Database,
    private readonly hasher: SecretHasher,
    private readonly sessionTtlSeconds: number,
    private readonly limits: TransactionLimits,
  ) {
    this.decoyHash = hasher.hash(randomBytes(16).toString('hex'));
  }

  async signUp(
    input: { email: string; password: string; accountName: string },
    guard?: CommitGuard,
  ): Promise<NewSession> {
    const email = input.email.trim().toLowerCase();
    const passwordHash = await this.hasher.hash(input.password);
    try {
      const user = await boundedTransaction(this.db, this.limits, guard, async (tx) => {
        const [account] = await tx.insert(accounts).values({ name: input.accountName.trim() }).returning();
        const [created] = await tx.insert(users).values({ accountId: account!.id, email, passwordHash }).returning();
        return { userId: created!.id, accountId: account!.id, email, accountName: account!.name };
      });
      return await this.startSession(user);
    } catch (error) {
      if (sqlState(error) === UNIQUE_VIOLATION) throw new EmailTaken();
      throw error;
    }
  }

  async logIn(input: { email: string; password: string }): Promise<NewSession> {
    const email = input.email.trim().toLowerCase();
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
    const hash = row?.passwordHash ?? (await this.decoyHash);
    const passwordMatches = await this.hasher.verify(hash, input.password);
    if (!row || !passwordMatches) throw new InvalidCredentials();
    const { passwordHash: _ignored, ...user } = row;
    return this.startSession(user);
  }

  private async startSession(user: SessionUser): Promise<NewSession> {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + this.sessionTtlSeconds * 1000);
    await this.db.insert(sessions).values({ tokenHash: hashToken(token), userId: user.userId, expiresAt });
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

  async logOut(token: string): Promise<void> {
    await this.db.delete(sessions).where(eq(sessions.tokenHash, hashToken(token)));
  }

  /** Deletes sessions that expired; safe to run anywhere at any time. */
  async pruneExpiredSessions(): Promise<void> {
    await this.db.delete(sessions).where(lt(sessions.expiresAt, new Date()));
  }
}
