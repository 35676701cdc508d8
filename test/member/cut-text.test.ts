import fc from 'fast-check';
import t, { type Test } from 'tap';
import { codePointCount, cutText, storableText } from '../../packages/member/src/cut-text.js';
import { rotatedKeyName, MAX_KEY_NAME_LENGTH } from '../../src/keys/key-names.js';

/*
 * Text is cut by characters (issue 29): never half of a surrogate pair, and between grapheme clusters
 * where one fits. Property tests over arbitrary Unicode (fixed seed), and the dashboard's copy of the
 * helper held to the same answers.
 */

const SEED = 29;
const RUNS = 2000;

/** Any well-formed text: whole graphemes (emoji sequences, combining marks), astral code points, ASCII. */
const wellFormedText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 150 }),
  fc.string({ unit: 'binary', maxLength: 150 }),
  fc.string({ unit: fc.constantFrom('a', ' ', '😀', '👩‍👩‍👧', '🇫🇷', 'e\u0301', 'x\u0300\u0301\u0302'), maxLength: 120 }),
);
const bound = fc.integer({ min: 0, max: 160 });

async function check<Ts extends [unknown, ...unknown[]]>(
  t: Test,
  name: string,
  property: fc.IRawProperty<Ts>,
): Promise<void> {
  const details = await fc.check(property, { seed: SEED, numRuns: RUNS });
  t.notOk(details.failed, name, { report: details.failed ? fc.defaultReportMessage(details) : undefined });
}

t.test('the rotation of a 100-unit name with an emoji at UTF-16 positions 78–79 (issue 29)', async (t) => {
  // Before: the name was cut at 79 code units, keeping the emoji's high surrogate alone, and the rotation failed.
  const day = new Date('2026-03-09T12:00:00Z');
  const name = 'a'.repeat(78) + '😀' + 'b'.repeat(20);
  t.equal(name.length, 100);
  const rotated = rotatedKeyName(name, day);
  t.ok(rotated.isWellFormed(), 'no lone surrogate');
  t.equal(rotated, `${'a'.repeat(78)}😀 (rotated 2026-03-09)`, '79 code points of the name: the emoji is kept whole');
  t.equal(codePointCount(rotated), MAX_KEY_NAME_LENGTH);
  const tooLong = rotatedKeyName('a'.repeat(79) + '😀' + 'b'.repeat(19), day);
  t.equal(tooLong, `${'a'.repeat(79)} (rotated 2026-03-09)`, 'an emoji that does not fit is dropped whole');
});

t.test('a cut never leaves half a character, never exceeds the bound, and keeps a start of the text', async (t) => {
  await check(
    t,
    'well-formed in, well-formed prefix out, at most max code points',
    fc.property(wellFormedText, bound, (text, max) => {
      const cut = cutText(text, max);
      return cut.isWellFormed() && text.startsWith(cut) && codePointCount(cut) <= max;
    }),
  );
  await check(
    t,
    'text within the bound is kept whole; longer text loses less than one grapheme of room',
    fc.property(wellFormedText, bound, (text, max) => {
      const cut = cutText(text, max);
      if (codePointCount(text) <= max) return cut === text;
      const next = [...new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(text.slice(cut.length))][0];
      return next === undefined || codePointCount(cut) + codePointCount(next.segment) > max || cut.length === 0;
    }),
  );
});

t.test('grapheme clusters stay whole where one fits', async (t) => {
  t.equal(cutText('ab👩‍👩‍👧', 4), 'ab', 'a family emoji (5 code points) is not split');
  t.equal(cutText('🇫🇷🇩🇪', 3), '🇫🇷', 'nor a flag');
  t.equal(cutText('cafe\u0301s', 4), 'caf', 'nor a letter and its accent');
  const flags = '🇫🇷'.repeat(60); // a run longer than the segmenter's window: pairs still counted from its start
  t.equal(cutText(flags, 99), '🇫🇷'.repeat(49));
  t.equal(cutText('a' + flags, 100), 'a' + '🇫🇷'.repeat(49));
  t.equal(cutText('a'.repeat(300) + '\r\n', 301), 'a'.repeat(300), 'nor CR LF');
  const heavy = 'x' + '\u0300'.repeat(300);
  t.equal(cutText(heavy, 10), heavy.slice(0, 10), 'one cluster longer than the bound is cut between code points');
});

t.test('storableText: what Postgres accepts in text and jsonb', async (t) => {
  t.equal(storableText('a\u0000b\ud800c', 10), 'ab\ufffdc');
  t.equal(storableText('😀😀😀', 2), '😀😀');
  await check(
    t,
    'any UTF-16 (lone surrogates, NUL) in, well-formed text without NUL out',
    fc.property(
      fc.string({ unit: 'binary-ascii', maxLength: 50 }),
      fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)), maxLength: 150 }),
      bound,
      (ascii, units, max) => {
        const stored = storableText(ascii + units, max);
        return stored.isWellFormed() && !stored.includes('\u0000') && codePointCount(stored) <= max;
      },
    ),
  );
});

t.test("the dashboard's copy gives the same answers as the server's", async (t) => {
  // A browser module outside the TypeScript program, loaded by URL.
  const browserModule = new URL('../../src/dashboard/public/assets/cut-text.js', import.meta.url).href;
  const browser = (await import(browserModule)) as { cutText(text: string, max: number): string };
  await check(
    t,
    'same cut for any text and bound',
    fc.property(wellFormedText, bound, (text, max) => browser.cutText(text, max) === cutText(text, max)),
  );
});

t.test('a rotated name is a valid key name for any name accepted at creation', async (t) => {
  await check(
    t,
    'at most MAX_KEY_NAME_LENGTH code points, well-formed, with the suffix',
    fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: MAX_KEY_NAME_LENGTH }), (grapheme) => {
      const name = cutText(grapheme, MAX_KEY_NAME_LENGTH);
      const rotated = rotatedKeyName(name, new Date('2026-03-09T00:00:00Z'));
      return (
        rotated.isWellFormed() &&
        codePointCount(rotated) <= MAX_KEY_NAME_LENGTH &&
        rotated.endsWith(' (rotated 2026-03-09)')
      );
    }),
  );
});
