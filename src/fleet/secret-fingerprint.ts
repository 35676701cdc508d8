import { createHmac } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { fleetSettings } from '../db/schema.js';
import { ConfigError } from '../config/env.js';

const SETTING = 'server_secret_fingerprint';

/**
 * What a replica's KEYWARD_SECRET is recognised by: an HMAC under the secret
 * of a fixed text. It tells secrets apart and gives nothing of the secret away.
 */
export function secretFingerprint(serverSecret: string): string {
  return createHmac('sha256', serverSecret).update('keyward server secret fingerprint v1').digest('base64url');
}

/**
 * Every replica must keep the hot set's digests under one secret: a replica
 * with another one would write entries that make valid keys fail on every
 * other instance. The first replica records the fingerprint of its secret;
 * any later one with another secret refuses to start, saying so.
 */
export async function assertFleetSecret(db: Database, serverSecret: string): Promise<void> {
  const fingerprint = secretFingerprint(serverSecret);
  await db.insert(fleetSettings).values({ name: SETTING, value: fingerprint }).onConflictDoNothing();
  const [recorded] = await db
    .select({ value: fleetSettings.value })
    .from(fleetSettings)
    .where(eq(fleetSettings.name, SETTING));
  if (recorded && recorded.value !== fingerprint) {
    throw new ConfigError(
      `KEYWARD_SECRET differs from the secret this database's fleet runs with (its fingerprint is ` +
        `${recorded.value.slice(0, 8)}…, this instance's ${fingerprint.slice(0, 8)}…): every replica must use the ` +
        `same KEYWARD_SECRET. Refusing to start, so that this instance cannot make valid keys fail elsewhere.`,
    );
  }
}
