// Shortening text without breaking a character: the browser's copy of src/text/cut-text.ts (a test holds the
// two to the same answers). `slice` counts UTF-16 code units and can keep half of an emoji; this counts code
// points, as the server's limits do, and cuts between grapheme clusters where one fits.

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** The longest start of `text` of at most `maxCodePoints` code points, cut between grapheme clusters. */
export function cutText(text, maxCodePoints) {
  if (text.length <= maxCodePoints) return text;
  return cutAtGraphemes(text, maxCodePoints) || cutAtCodePoints(text, maxCodePoints);
}

function cutAtGraphemes(text, maxCodePoints) {
  let codePoints = 0;
  let end = 0;
  for (const { segment } of graphemes.segment(text)) {
    codePoints += [...segment].length;
    if (codePoints > maxCodePoints) break;
    end += segment.length;
  }
  return text.slice(0, end);
}

function cutAtCodePoints(text, maxCodePoints) {
  let codePoints = 0;
  let end = 0;
  for (const character of text) {
    if (++codePoints > maxCodePoints) break;
    end += character.length;
  }
  return text.slice(0, end);
}

/** Whether `text` is longer than `maxCodePoints` code points. */
export function isLongerThan(text, maxCodePoints) {
  return text.length > maxCodePoints && [...text].length > maxCodePoints;
}
