/**
 * The key with its last character replaced by a different one: a mistyped
 * key whose checksum no longer matches. (Appending a fixed character would be
 * a no-op for the one key in 62 that already ends with it.)
 */
export function withLastCharacterChanged(key: string): string {
  return key.slice(0, -1) + (key.endsWith('x') ? 'y' : 'x');
}
