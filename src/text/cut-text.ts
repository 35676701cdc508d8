/*
 * Shortening text without breaking a character. `text.slice(0, n)` counts UTF-16 code units: it can keep the
 * first half of a surrogate pair (an emoji, most CJK extension characters), and Postgres then refuses the
 * lone half in a jsonb value, or stores it as U+FFFD in a text column. Every bound in keyward (schema
 * `maxLength`, which Ajv counts in code points, and the limits below it) is a number of code points, so
 * text is cut to a number of code points, at a grapheme cluster boundary where one fits, so that a person
 * never sees half of a flag or of a family emoji either.
 *
 * The dashboard has its own copy for the browser (src/dashboard/public/assets/cut-text.js); a test holds
 * the two to the same answers.
 */

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * The longest start of `text` of at most `maxCodePoints` code points that ends between two grapheme
 * clusters, or, when even the first cluster is longer than that (a letter carrying hundreds of combining
 * marks), between two code points. Never splits a surrogate pair.
 */
export function cutText(text: string, maxCodePoints: number): string {
  // A string is never longer in code points than in code units: the common case allocates nothing.
  if (text.length <= maxCodePoints) return text;
  return cutAtGraphemes(text, maxCodePoints) || cutAtCodePoints(text, maxCodePoints);
}

function cutAtGraphemes(text: string, maxCodePoints: number): string {
  let codePoints = 0;
  let end = 0;
  for (const { segment } of graphemes.segment(text)) {
    codePoints += codePointCount(segment);
    if (codePoints > maxCodePoints) break;
    end += segment.length;
  }
  return text.slice(0, end);
}

function cutAtCodePoints(text: string, maxCodePoints: number): string {
  let codePoints = 0;
  let end = 0;
  for (const character of text) {
    if (++codePoints > maxCodePoints) break;
    end += character.length;
  }
  return text.slice(0, end);
}

export function codePointCount(text: string): number {
  let count = 0;
  for (const _character of text) count++;
  return count;
}

// In a `u` regex a paired surrogate is one code point of another category: this finds lone ones only.
const LONE_SURROGATES = /\p{Surrogate}/gu;

/**
 * Text from outside (an error message, a report's field) as Postgres can store it in text and jsonb: no
 * NUL, each lone surrogate replaced by U+FFFD, cut to `maxCodePoints` by {@link cutText}.
 */
export function storableText(text: string, maxCodePoints: number): string {
  return cutText(text.replaceAll('\u0000', '').replace(LONE_SURROGATES, '\ufffd'), maxCodePoints);
}
