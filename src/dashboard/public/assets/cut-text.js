// Shortening text without breaking a character: the browser's copy of packages/member/src/cut-text.ts (a test holds the
// two to the same answers). `slice` counts UTF-16 code units and can keep half of an emoji; this counts code
// points, as the server's limits do, and cuts between grapheme clusters where one fits.

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
/** The longest grapheme cluster kept whole, in code units (see packages/member/src/cut-text.ts). */
const MAX_CLUSTER_UNITS = 64;

/** The longest start of `text` of at most `maxCodePoints` code points, cut between grapheme clusters. */
export function cutText(text, maxCodePoints) {
  if (text.length <= maxCodePoints) return text;
  const end = codePointEnd(text, maxCodePoints);
  return end === text.length ? text : text.slice(0, clusterStartAt(text, end));
}

/** Whether `text` is longer than `maxCodePoints` code points. */
export function isLongerThan(text, maxCodePoints) {
  return text.length > maxCodePoints && codePointEnd(text, maxCodePoints) < text.length;
}

function codePointEnd(text, count) {
  let end = 0;
  for (let kept = 0; kept < count && end < text.length; kept++) {
    end += isHighSurrogate(text.charCodeAt(end)) && isLowSurrogate(text.charCodeAt(end + 1)) ? 2 : 1;
  }
  return end;
}

function clusterStartAt(text, end) {
  const before = text.charCodeAt(end - 1);
  const after = text.charCodeAt(end);
  // Below U+0300 no character extends, joins or prepends another: every position but inside CR LF is a boundary.
  if (before < 0x300 && after < 0x300 && !(before === 0x0d && after === 0x0a)) return end;
  let from = Math.max(0, end - MAX_CLUSTER_UNITS);
  if (isLowSurrogate(text.charCodeAt(from)) && from > 0) from--;
  // Regional indicators pair up from the start of their run.
  while (from >= 2 && isRegionalIndicator(text, from - 2)) from -= 2;
  const window = text.slice(from, Math.min(text.length, end + MAX_CLUSTER_UNITS));
  const clusterStart = from + graphemes.segment(window).containing(end - from).index;
  const tooLong = clusterStart === 0 || (clusterStart === from && from > 0);
  return tooLong ? end : clusterStart;
}

const isHighSurrogate = (unit) => unit >= 0xd800 && unit <= 0xdbff;
const isLowSurrogate = (unit) => unit >= 0xdc00 && unit <= 0xdfff;
const isRegionalIndicator = (text, at) =>
  text.charCodeAt(at) === 0xd83c && text.charCodeAt(at + 1) >= 0xdde6 && text.charCodeAt(at + 1) <= 0xddff;
