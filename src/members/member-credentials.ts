import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, asc, eq, isNull, lt, or, sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { fleetMembers } from '../db/schema.js';
import { generateKeyId, KEY_ID_LENGTH } from '../../packages/member/src/key-format.js';
import { recordAudit, type Actor } from '../audit/audit-log.js';

/*
 * A member credential reads `kwm_<id>_<secret>`: the id is public (listed,
 * audited, revoked by it), the secret 32 base64url characters (192 bits).
 * Postgres keeps SHA-256 of the whole credential: it is random, so a fast
 * hash is enough, and members are authenticated on every heartbeat.
 */
export const MEMBER_CREDENTIAL_PREFIX = 'kwm_';
const CREDENTIAL_PATTERN = new RegExp(`^${MEMBER_CREDENTIAL_PREFIX}([0-9A-Za-z]{${KEY_ID_LENGTH}})_[A-Za-z0-9_-]{32}$`);
/** Longest name an operator may give a member. */
export const MAX_MEMBER_NAME_LENGTH = 100;
/** A member's last sighting is written at most this often (heartbeats come several times a second). */
const LAST_SEEN_RESOLUTION_MS = 60_000;

export interface MemberView {
  id: string;
  name: string;
  createdAt: Date;
  revokedAt: Date | null;
  lastSeenAt: Date | null;
}

export interface AuthenticatedMember {
  id: string;
  name: string;
}

function credentialHash(credential: string): Buffer {
  return createHash('sha256').update(credential).digest();
}

/** The services allowed to check keys through keyward, by the credentials the operator gave them. */
export class MemberCredentials {
  constructor(private readonly db: Database) {}

  /** A new member; its credential is returned once and stored only as a hash. */
  async create(name: string, actor: Actor): Promise<{ member: MemberView; credential: string }> {
    const trimmed = name.trim();
    if (trimmed.length === 0 || [...trimmed].length > MAX_MEMBER_NAME_LENGTH) {
      throw new RangeError(`a member name holds 1 to ${MAX_MEMBER_NAME_LENGTH} characters`);
    }
    const id = generateKeyId();
    const credential = `${MEMBER_CREDENTIAL_PREFIX}${id}_${randomBytes(24).toString('base64url')}`;
    const member = await this.db.transaction(async (tx) => {
      const [row] = await tx
        .insert(fleetMembers)
        .values({ id, name: trimmed, credentialHash: credentialHash(credential).toString('hex') })
        .returning();
      await recordAudit(tx, actor, {
        accountId: null,
        action: 'member.created',
        details: { memberId: id, name: trimmed },
      });
      return row!;
    });
    return { member: viewOf(member), credential };
  }

  async list(): Promise<MemberView[]> {
    const rows = await this.db.select().from(fleetMembers).orderBy(asc(fleetMembers.createdAt));
    return rows.map(viewOf);
  }

  /** Revokes a member; null when there is no such member. Revoking twice changes nothing. */
  async revoke(id: string, actor: Actor): Promise<MemberView | null> {
    return this.db.transaction(async (tx) => {
      const [revoked] = await tx
        .update(fleetMembers)
        .set({ revokedAt: sql`now()` })
        .where(and(eq(fleetMembers.id, id), isNull(fleetMembers.revokedAt)))
        .returning();
      if (revoked) {
        await recordAudit(tx, actor, {
          accountId: null,
          action: 'member.revoked',
          details: { memberId: id, name: revoked.name },
        });
        return viewOf(revoked);
      }
      const [existing] = await tx.select().from(fleetMembers).where(eq(fleetMembers.id, id));
      return existing ? viewOf(existing) : null;
    });
  }

  /** The member a credential belongs to, or null for anything else (malformed, unknown, revoked). */
  async authenticate(credential: unknown): Promise<AuthenticatedMember | null> {
    if (typeof credential !== 'string') return null;
    const id = CREDENTIAL_PATTERN.exec(credential)?.[1];
    if (id === undefined) return null;
    const [row] = await this.db
      .select({
        name: fleetMembers.name,
        credentialHash: fleetMembers.credentialHash,
        revokedAt: fleetMembers.revokedAt,
      })
      .from(fleetMembers)
      .where(eq(fleetMembers.id, id));
    if (!row || row.revokedAt !== null) return null;
    if (!timingSafeEqual(Buffer.from(row.credentialHash, 'hex'), credentialHash(credential))) return null;
    return { id, name: row.name };
  }

  /** Notes that a member was seen (at most one write a minute per member). */
  async seen(id: string): Promise<void> {
    const stale = new Date(Date.now() - LAST_SEEN_RESOLUTION_MS);
    await this.db
      .update(fleetMembers)
      .set({ lastSeenAt: sql`now()` })
      .where(and(eq(fleetMembers.id, id), or(isNull(fleetMembers.lastSeenAt), lt(fleetMembers.lastSeenAt, stale))));
  }
}

function viewOf(row: typeof fleetMembers.$inferSelect): MemberView {
  return { id: row.id, name: row.name, createdAt: row.createdAt, revokedAt: row.revokedAt, lastSeenAt: row.lastSeenAt };
}
