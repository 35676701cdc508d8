// @node-rs/argon2 rather than argon2: it ships one prebuilt binary per platform as an optional
// dependency and runs no install script. The argon2 package's glibc prebuild segfaults on our hosts
// (Node 20.20.2) whenever its install script (a node-gyp build) is skipped: --ignore-scripts, pnpm.
import * as argon2 from '@node-rs/argon2';

export interface Argon2Cost {
  memoryKib: number;
  timeCost: number;
  parallelism: number;
}

/** argon2id hashing for key secrets and passwords, at the configured cost. */
export class SecretHasher {
  constructor(private readonly cost: Argon2Cost) {}

  hash(secret: string): Promise<string> {
    return argon2.hash(secret, {
      algorithm: argon2.Algorithm.Argon2id,
      memoryCost: this.cost.memoryKib,
      timeCost: this.cost.timeCost,
      parallelism: this.cost.parallelism,
    });
  }

  /**
   * Verifies against the cost stored in the hash (a PHC string, the same format the argon2 package
   * wrote), so raising the cost never breaks old keys.
   */
  async verify(hash: string, secret: string): Promise<boolean> {
    try {
      return await argon2.verify(hash, secret);
    } catch {
      return false; // a malformed stored hash never authenticates
    }
  }
}
