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

/** Made on the first cut that needs it: loading the segmenter's ICU data takes ~16 ms, which a fleet member would pay at import. */
let graphemes: Intl.Segmenter | undefined;

/**
 * The longest grapheme cluster kept whole, in code units; a longer one (a letter under dozens of combining
 * marks) is cut between code points. The longest emoji sequences are under 40 units. The bound also keeps
 * the segmenter's work small: it reads a window of twice this around the cut, never the whole text (on a
 * 300-character user agent, segmenting from the start took over 200 µs a call).
 */
const MAX_CLUSTER_UNITS = 64;

/**
 * The longest start of `text` of at most `maxCodePoints` code points that ends between two grapheme
 * clusters, or, when the cluster at the cut is longer than that (or than {@link MAX_CLUSTER_UNITS}),
 * between two code points. Never splits a surrogate pair.
 */
export function cutText(text: string, maxCodePoints: number): string {
  // A string is never longer in code points than in code units: the common case allocates nothing.
  if (text.length <= maxCodePoints) return text;
  const end = codePointEnd(text, maxCodePoints);
  return end === text.length ? text : text.slice(0, clusterStartAt(text, end));
}

/** Where the first `count` code points of `text` end, in code units. */
function codePointEnd(text: string, count: number): number {
  let end = 0;
  for (let kept = 0; kept < count && end < text.length; kept++) {
    end += isHighSurrogate(text.charCodeAt(end)) && isLowSurrogate(text.charCodeAt(end + 1)) ? 2 : 1;
  }
  return end;
}

/** `end` if a grapheme cluster starts there, else the start of the cluster it is inside (if short enough). */
function clusterStartAt(text: string, end: number): number {
  const before = text.charCodeAt(end - 1);
  const after = text.charCodeAt(end);
  // Below U+0300 no character extends, joins or prepends another (UAX #29): between two of them every
  // position is a boundary but the one inside CR LF. This is every cut of a user agent (Latin-1).
  if (before < 0x300 && after < 0x300 && !(before === 0x0d && after === 0x0a)) return end;
  let from = Math.max(0, end - MAX_CLUSTER_UNITS);
  if (isLowSurrogate(text.charCodeAt(from)) && from > 0) from--;
  // Regional indicators pair up from the start of their run: a window starting inside one would pair them wrong.
  while (from >= 2 && isRegionalIndicator(text, from - 2)) from -= 2;
  const window = text.slice(from, Math.min(text.length, end + MAX_CLUSTER_UNITS));
  const clusterStart =
    from +
    (graphemes ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' })).segment(window).containing(end - from)!
      .index;
  const tooLong = clusterStart === 0 || (clusterStart === from && from > 0);
  return tooLong ? end : clusterStart;
}

const isHighSurrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdbff;
const isLowSurrogate = (unit: number) => unit >= 0xdc00 && unit <= 0xdfff;
/** U+1F1E6 … U+1F1FF at `at`: the letters that make flags in pairs. */
const isRegionalIndicator = (text: string, at: number) =>
  text.charCodeAt(at) === 0xd83c && text.charCodeAt(at + 1) >= 0xdde6 && text.charCodeAt(at + 1) <= 0xddff;

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
