import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { parseKeyDocument } from '../../src/leaks/github-public-keys.js';
import { generateSigningKey } from '../support/github-stand-in.js';

/*
 * GitHub's key document (`{"public_keys": [{"key_identifier", "key", "is_current"}]}`) is read by a
 * hand-written shape check: for any JSON at all, and for documents mixing usable P-256 keys with other
 * kinds and junk entries, it trusts exactly the P-256 keys of well-formed entries, or refuses the document
 * with an Error; never a TypeError from a shape it did not expect.
 */

const p256 = generateSigningKey();
const otherKeys = [
  generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  'not a PEM',
];

const entryArb = fc.oneof(
  fc.record({
    key_identifier: fc.string({ maxLength: 12 }),
    key: fc.constant(p256.publicPem),
    is_current: fc.boolean(),
  }),
  fc.record({ key_identifier: fc.string({ maxLength: 12 }), key: fc.constantFrom(...otherKeys) }),
  fc.record({ key_identifier: fc.anything(), key: fc.oneof(fc.anything(), fc.constant(p256.publicPem)) }),
  fc.anything(),
);
const documentArb = fc.oneof(
  fc.record({ public_keys: fc.array(entryArb, { maxLength: 6 }) }),
  fc.jsonValue(),
  fc.anything(),
);

t.test('any document: the P-256 keys of well-formed entries, or an Error', async (t) => {
  const details = await fc.check(
    fc.property(documentArb, (document) => {
      let keys: Map<string, unknown>;
      try {
        keys = parseKeyDocument(document);
      } catch (error) {
        return error instanceof Error && /^no (public_keys array|usable P-256 public key)$/.test(error.message);
      }
      const entries = (document as { public_keys: Array<{ key_identifier?: unknown; key?: unknown }> }).public_keys;
      const usable = new Set(
        entries
          .filter((entry) => typeof entry?.key_identifier === 'string' && entry.key === p256.publicPem)
          .map((entry) => entry.key_identifier as string),
      );
      return keys.size > 0 && keys.size === usable.size && [...keys.keys()].every((id) => usable.has(id));
    }),
    { seed: 29, numRuns: 500 },
  );
  t.notOk(details.failed, 'trusted exactly the usable keys', {
    report: details.failed ? fc.defaultReportMessage(details) : undefined,
  });
});
