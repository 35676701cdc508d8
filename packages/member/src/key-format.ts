import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/*
 * An API key reads `<prefix>_<keyId>_<secret><checksum>`, e.g.
 * `kw_4ZbQ0cXw9LmT2pVa_<33 secret chars><6 checksum chars>`.
 *
 * - keyId: 16 base62 characters (~95 bits), public; the database row's id.
 * - secret: 33 uniformly random base62 characters (196 bits).
 * - checksum: CRC-32 of everything before it, as 6 base62 characters, so a
 *   mistyped or truncated key is refused with no I/O and secret scanners can
 *   tell a real key from noise.
 * Base62 only: a double-click selects the whole key.
 */

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const KEY_ID_LENGTH = 16;
export const SECRET_LENGTH = 33; // 33 × log2(62) ≈ 196 bits ≥ 192
export const CHECKSUM_LENGTH = 6; // 62^6 > 2^32
/** Longest prefix a deployment may configure (see KEYWARD_KEY_PREFIX). */
export const MAX_PREFIX_LENGTH = 16;

export const KEY_ID_PATTERN = `^[0-9A-Za-z]{${KEY_ID_LENGTH}}$`;
const KEY_ID_REGEX = new RegExp(KEY_ID_PATTERN);

/** The regex secret scanners can use to find keys of a given prefix. */
export function keyPattern(prefix: string): RegExp {
  return new RegExp(`^${prefix}_([0-9A-Za-z]{${KEY_ID_LENGTH}})_([0-9A-Za-z]{${SECRET_LENGTH + CHECKSUM_LENGTH}})$`);
}

export interface ParsedKey {
  keyId: string;
  /** Everything the holder must prove: the full key string. */
  fullKey: string;
}

/** A CRC-32 as 6 base62 digits. Plain numbers, not BigInt: this runs on every request. */
function checksumOf(body: string): string {
  let rest = crc32(body);
  let out = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = ALPHABET[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  return out;
}

function randomBase62(length: number): string {
  // Rejection sampling keeps every character uniform (no modulo bias).
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

export function isKeyId(value: string): boolean {
  return KEY_ID_REGEX.test(value);
}

export function generateKeyId(): string {
  return randomBase62(KEY_ID_LENGTH);
}

/** Builds a new key for an id; the secret exists only in the returned string. */
export function generateKey(prefix: string, keyId: string = generateKeyId()): { keyId: string; key: string } {
  const secret = randomBase62(SECRET_LENGTH);
  const body = `${prefix}_${keyId}_${secret}`;
  return { keyId, key: body + checksumOf(body) };
}

/** Length of every key of a prefix. */
export function keyLength(prefix: string): number {
  return prefix.length + 2 + KEY_ID_LENGTH + SECRET_LENGTH + CHECKSUM_LENGTH;
}

/** Where the key id starts in a key of a prefix. */
export function keyIdOffset(prefix: string): number {
  return prefix.length + 1;
}

/**
 * Parses an `x-api-key` value without any I/O. Returns null for anything that
 * is not a well-formed key of this deployment's prefix with a valid checksum.
 */
export function parseKey(value: unknown, prefix: string): ParsedKey | null {
  if (typeof value !== 'string') return null;
  if (value.length !== keyLength(prefix)) return null;
  if (!shapeOf(prefix).test(value)) return null;
  const checksumStart = value.length - CHECKSUM_LENGTH;
  if (checksumOf(value.slice(0, checksumStart)) !== value.slice(checksumStart)) return null;
  const keyIdStart = keyIdOffset(prefix);
  return { keyId: value.slice(keyIdStart, keyIdStart + KEY_ID_LENGTH), fullKey: value };
}

/**
 * A copy of a short string that shares no memory with the string it came
 * from. V8 keeps a slice pointing into its parent, so a key id sliced from an
 * `x-api-key` header would keep the whole key alive in any cache it enters.
 */
export function detached(value: string): string {
  return Buffer.from(value, 'latin1').toString('latin1');
}

const shapes = new Map<string, RegExp>();

/** The key regex of a prefix, compiled once. */
function shapeOf(prefix: string): RegExp {
  let shape = shapes.get(prefix);
  if (shape === undefined) {
    shape = keyPattern(prefix);
    shapes.set(prefix, shape);
  }
  return shape;
}

/** What the dashboard may show of a key: prefix, id and the last 4 characters. */
export function keyHint(key: string): string {
  return `${key.slice(0, key.length - SECRET_LENGTH - CHECKSUM_LENGTH)}…${key.slice(-4)}`;
}
