import { createHash } from 'node:crypto';
import { parseKey } from '../../packages/member/src/key-format.js';
import type { Actor } from '../audit/audit-log.js';
import type { KeyService, LeakReport } from '../keys/key-lifecycle.js';
import { storableText } from '../../packages/member/src/cut-text.js';

/** One match of a secret scanning report, as GitHub posts it. */
export interface SecretMatch {
  token: string;
  type: string;
  /** May be empty. */
  url: string;
  source: string;
}

/** GitHub's feedback format: the token only as its SHA-256, never echoed. */
export interface MatchFeedback {
  token_hash: string;
  token_type: string;
  label: 'true_positive' | 'false_positive';
}

/** The audit actor of revocations on GitHub's reports (userId null, like the CLI's `cli:<user>`). */
export const GITHUB_SCANNER = 'secret-scanning:github';

/**
 * Distinct tokens of one report checked at once: each well-formed one with a known id costs an argon2
 * verification, and the key checks serving traffic need the CPU too.
 */
const CHECKS_AT_ONCE = 2;
/** Longest url and source kept in the audit log and the key's row (GitHub's are far shorter). */
const MAX_URL_LENGTH = 2048;
const MAX_SOURCE_LENGTH = 64;

export function sha256Hex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Acts on secret scanning reports: labels every match, and revokes each key of this deployment found in
 * public through KeyService.revokeKey, so the revocation has the same fleet-wide guarantee as a DELETE.
 */
export class LeakedKeyReports {
  constructor(
    private readonly keys: KeyService,
    private readonly keyPrefix: string,
  ) {}

  async handle(matches: SecretMatch[], actor: Actor): Promise<MatchFeedback[]> {
    // A token may be reported several times in one batch (several places): checked once, recorded per place.
    const byToken = new Map<string, SecretMatch[]>();
    for (const match of matches) {
      const places = byToken.get(match.token);
      if (places) places.push(match);
      else byToken.set(match.token, [match]);
    }
    const ours = new Set<string>();
    const queue = [...byToken];
    // CHECKS_AT_ONCE workers take tokens in turn; their argon2 work also waits in the process's pool.
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [token, places] = next;
        const key = await this.keyOf(token);
        if (!key) continue;
        ours.add(token);
        for (const place of places) {
          const leak: LeakReport = {
            url: storableText(place.url, MAX_URL_LENGTH),
            source: storableText(place.source, MAX_SOURCE_LENGTH),
            type: storableText(place.type, MAX_SOURCE_LENGTH),
          };
          await this.keys.revokeKey({ ...key, actor, leak });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CHECKS_AT_ONCE, queue.length) }, worker));
    return matches.map((match) => ({
      token_hash: sha256Hex(match.token),
      token_type: match.type,
      label: ours.has(match.token) ? 'true_positive' : 'false_positive',
    }));
  }

  /**
   * The key a token is, if it is one of this deployment's: well-formed with a valid checksum, an id that
   * exists, and the secret matching it (a look-alike built on a real id is not our key). Active, revoked
   * and expired keys alike.
   */
  private async keyOf(token: string): Promise<{ accountId: string; keyId: string } | null> {
    const parsed = parseKey(token, this.keyPrefix);
    if (!parsed) return null;
    try {
      return { accountId: await this.keys.accountOfKey(parsed.keyId, parsed.fullKey), keyId: parsed.keyId };
    } catch (error) {
      if ((error as { code?: unknown }).code === 'KW_KEY_NOT_FOUND') return null;
      throw error;
    }
  }
}
