import argon2 from 'argon2';

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
      type: argon2.argon2id,
      memoryCost: this.cost.memoryKib,
      timeCost: this.cost.timeCost,
      parallelism: this.cost.parallelism,
    });
  }

  /** Verifies against the cost stored in the hash, so raising the cost never breaks old keys. */
  async verify(hash: string, secret: string): Promise<boolean> {
    try {
      return await argon2.verify(hash, secret);
    } catch {
      return false; // a malformed stored hash never authenticates
    }
  }
}
