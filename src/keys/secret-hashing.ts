// @node-rs/argon2 rather than argon2: it ships one prebuilt binary per platform as an optional
// dependency and runs no install script. The argon2 package's glibc prebuild segfaults on our hosts
// (Node 20.20.2) whenever its install script (a node-gyp build) is skipped: --ignore-scripts, pnpm.
import * as argon2 from '@node-rs/argon2';
import { Argon2Pool, type Argon2PoolLimits, type Argon2PoolStats, type Argon2Priority } from './argon2-pool.js';

export interface Argon2Cost {
  memoryKib: number;
  timeCost: number;
  parallelism: number;
}

/**
 * argon2id hashing for key secrets and passwords, at the configured cost. Every hash and verification of
 * the process runs in its one bounded pool, key checks first (see {@link Argon2Pool}); a full queue
 * rejects with `ServerBusy` (503 server_busy, with Retry-After).
 */
export class SecretHasher {
  private readonly pool: Argon2Pool;

  constructor(
    private readonly cost: Argon2Cost,
    limits: Argon2PoolLimits,
  ) {
    this.pool = new Argon2Pool(limits);
  }

  hash(secret: string, priority: Argon2Priority = 'account'): Promise<string> {
    return this.pool.run(priority, () => this.hashNow(secret));
  }

  /**
   * Verifies against the cost stored in the hash (a PHC string, the same format the argon2 package
   * wrote), so raising the cost never breaks old keys.
   */
  verify(hash: string, secret: string, priority: Argon2Priority = 'account'): Promise<boolean> {
    return this.pool.run(priority, () => this.verifyNow(hash, secret));
  }

  /** The argon2 work itself, run in a slot of the pool (tests count and hold it here). */
  protected hashNow(secret: string): Promise<string> {
    return argon2.hash(secret, {
      algorithm: argon2.Algorithm.Argon2id,
      memoryCost: this.cost.memoryKib,
      timeCost: this.cost.timeCost,
      parallelism: this.cost.parallelism,
    });
  }

  protected async verifyNow(hash: string, secret: string): Promise<boolean> {
    try {
      return await argon2.verify(hash, secret);
    } catch {
      return false; // a malformed stored hash never authenticates
    }
  }

  /** Hashes and verifications started and refused, by priority (tests count argon2 work with it). */
  stats(): Argon2PoolStats {
    return this.pool.stats();
  }
}
