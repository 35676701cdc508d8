/** Key names: what a key is called when nobody named it, and the name a rotation gives the new key. */

import { cutText } from '../../packages/member/src/cut-text.js';

/** In code points, as the request schema's `maxLength` counts them. */
export const MAX_KEY_NAME_LENGTH = 100;

/** The name of a key created without one. */
export const DEFAULT_KEY_NAME = 'API key';

/** The name as stored: trimmed, and the default when nothing is left. */
export function keyName(requested: string | undefined): string {
  return requested?.trim() || DEFAULT_KEY_NAME;
}

/** " (rotated)", " (rotated 2026-03-09)" and " (rotated 2026-03-09, 2)" suffixes, however many a name collected before. */
const ROTATED_SUFFIXES = /(?:\s*\(rotated(?: \d{4}-\d{2}-\d{2}(?:, \d+)?)?\))+$/;

/**
 * The default name of a rotation's new key: the old name with the day of the rotation, e.g.
 * "production (rotated 2026-03-09)". Rotating that key again replaces the suffix rather than adding
 * one ("production (rotated) (rotated)" was the old behaviour), so names never grow. When an active key
 * already has that name (the same key rotated twice in a day: its predecessor is still in its grace period),
 * a counter tells the two apart: "production (rotated 2026-03-09, 2)" (issue 28). A long name is cut by
 * whole characters: cut by UTF-16 code units, a name with an emoji at the cut kept half of it, and the
 * rotation failed (issue 29).
 */
export function rotatedKeyName(
  oldName: string,
  now = new Date(),
  activeNames: ReadonlySet<string> = new Set(),
): string {
  const day = now.toISOString().slice(0, 10);
  const base = keyName(oldName.replace(ROTATED_SUFFIXES, ''));
  for (let count = 1; ; count++) {
    const suffix = count === 1 ? ` (rotated ${day})` : ` (rotated ${day}, ${count})`;
    const name = cutText(base, MAX_KEY_NAME_LENGTH - suffix.length).trimEnd() + suffix;
    if (!activeNames.has(name)) return name;
  }
}
