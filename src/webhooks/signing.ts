import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/*
 * Standard Webhooks signatures (https://www.standardwebhooks.com), with node:crypto only: keyward is also
 * installed as a library, and the spec's signature is one HMAC. Tests check every delivery with the
 * `standardwebhooks` package, as a receiver would.
 */

const SECRET_PREFIX = 'whsec_';
/** The spec asks for 24 to 64 random bytes; 32 is a full HMAC-SHA256 key. */
const SECRET_BYTES = 32;

/** A new signing secret, `whsec_` + base64 of random bytes, shown to its owner once. */
export function generateSigningSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/**
 * The Standard Webhooks headers for one attempt: `webhook-signature` is `v1,` + base64 of
 * HMAC-SHA256, keyed with the secret's decoded bytes, over `id.timestamp.body`.
 */
export function signatureHeaders(
  secret: string,
  messageId: string,
  timestampSeconds: number,
  body: string,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  const signature = createHmac('sha256', key).update(`${messageId}.${timestampSeconds}.${body}`).digest('base64');
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': `v1,${signature}`,
  };
}

const CIPHER_VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Encrypts signing secrets at rest. They cannot be hashed like API keys (keyward signs with them), so a
 * database dump must not yield them: AES-256-GCM with a key derived from KEYWARD_SECRET by HKDF (a key of
 * its own, never the digest key), and the endpoint id as additional data, so a ciphertext copied onto
 * another endpoint's row does not decrypt. Changing KEYWARD_SECRET makes existing secrets unreadable:
 * those endpoints must be registered again.
 */
export class SigningSecretBox {
  private readonly key: Buffer;

  constructor(serverSecret: string) {
    this.key = Buffer.from(hkdfSync('sha256', serverSecret, 'keyward', 'webhook signing secrets v1', 32));
  }

  seal(secret: string, endpointId: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(endpointId));
    const sealed = Buffer.concat([iv, cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${CIPHER_VERSION}.${sealed.toString('base64url')}`;
  }

  open(sealed: string, endpointId: string): string {
    const [version, data] = sealed.split('.');
    if (version !== CIPHER_VERSION || data === undefined) throw new Error('unknown signing secret format');
    const bytes = Buffer.from(data, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(endpointId));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    return Buffer.concat([
      decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  }
}
