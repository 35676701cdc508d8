import { unescape as percentDecode } from 'node:querystring';
import fc from 'fast-check';
import t from 'tap';
import { urlRedactor } from '../../src/http/log-redaction.js';

/*
 * The URL redactor parses paths and query strings by hand: this holds it to how the WHATWG URL standard
 * (URLSearchParams) and Node read them. However a key is spelled in a URL (any character percent-encoded,
 * in either case, next to malformed escapes and other junk), no decoding of the logged URL shows it.
 */

const ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const alnum = (length: number) => fc.string({ unit: fc.constantFrom(...ALNUM), minLength: length, maxLength: length });
const keyArb = fc.tuple(alnum(16), alnum(45)).map(([id, secret]) => `kw_${id}_${secret}`);
/** Junk around a key: URL punctuation, malformed and valid escapes, any text. */
const junkArb = fc.string({
  unit: fc.oneof(
    fc.constantFrom('%', '%ZZ', '%e2%82', '%41', '+', '=', ';', 'a', '.', '~', ' '),
    fc.string({ maxLength: 2 }),
  ),
  maxLength: 6,
});
/** A key with each character kept or percent-encoded (upper or lower case hex). */
const spelledKeyArb = keyArb.chain((key) =>
  fc.array(fc.constantFrom('plain', 'upper', 'lower'), { minLength: key.length, maxLength: key.length }).map((ways) =>
    [...key]
      .map((character, index) => {
        const hex = character.charCodeAt(0).toString(16).padStart(2, '0');
        return ways[index] === 'plain' ? character : `%${ways[index] === 'upper' ? hex.toUpperCase() : hex}`;
      })
      .join(''),
  ),
);
const placeArb = fc.constantFrom('path', 'query name', 'query value', 'bare query');

const keyLike = /kw_[0-9A-Za-z]{16}_[0-9A-Za-z]/;

t.test('no decoding of a logged URL shows a key, however it was spelled', async (t) => {
  const redact = urlRedactor('kw');
  const details = await fc.check(
    fc.property(spelledKeyArb, junkArb, junkArb, placeArb, (spelled, before, after, place) => {
      const text = `${before}${spelled}${after}`.replace(/[&?/#]/g, '');
      const url =
        place === 'path'
          ? `/v1/verify/${text}/orders?page=2`
          : place === 'query name'
            ? `/v1/me?page=2&${text}=1`
            : place === 'query value'
              ? `/v1/me?q=${text}&page=2`
              : `/v1/me?${text}`;
      const logged = redact(url);
      const query = logged.includes('?') ? logged.slice(logged.indexOf('?') + 1) : '';
      const readings = [
        logged,
        percentDecode(logged),
        ...[...new URLSearchParams(query)].flat(),
        ...logged
          .split('?')[0]!
          .split('/')
          .map((segment) => percentDecode(segment)),
      ];
      return readings.every((reading) => !keyLike.test(reading));
    }),
    { seed: 29, numRuns: 3000 },
  );
  t.notOk(details.failed, 'no reading shows a key', {
    report: details.failed ? fc.defaultReportMessage(details) : undefined,
  });
});

t.test('a malformed escape next to an encoded key does not stop it being found', async (t) => {
  const redact = urlRedactor('kw');
  const key = 'kw_4ZbQ0cXw9LmT2pVa_EXAMPLEx0nly0n0tA0real0secret00010BteCL'.replace(/_/g, '%5F');
  t.equal(redact(`/v1/me?q=%ZZ${key}&page=2`), '/v1/me?q=[REDACTED]&page=2');
  t.equal(redact(`/v1/verify/%ZZ${key}/orders`), '/v1/verify/[REDACTED]/orders');
});
