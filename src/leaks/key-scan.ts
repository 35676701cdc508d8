import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  KEY_ID_LENGTH,
  CHECKSUM_LENGTH,
  SECRET_LENGTH,
  keyHint,
  parseKey,
} from '../../packages/member/src/key-format.js';

/*
 * `keyward scan`: finds keys of this deployment in files, for pre-commit hooks and CI. A candidate must have
 * the key's shape AND a valid checksum (packages/member/src/key-format.ts), so look-alikes (examples, test fixtures,
 * truncated or mistyped keys) are never reported. No database: that a key exists is --revoke's business.
 */

/** Folders skipped by default: history and installed dependencies are not what a commit adds. */
export const SKIPPED_FOLDERS = new Set(['.git', 'node_modules']);
/** Files larger than this are skipped (logs, dumps, bundles): a hook must stay fast. */
export const MAX_FILE_BYTES = 10 * 1024 * 1024;
/** As git does: a NUL in the first bytes makes a file binary, and binary files are skipped. */
const BINARY_SNIFF_BYTES = 8000;

export interface Finding {
  /** The path as given or found (`-` for standard input). */
  path: string;
  /** 1-based. */
  line: number;
  keyId: string;
  /** What may be shown: prefix, id and the last 4 characters. */
  hint: string;
  /** The full key, kept only for --revoke (which checks the secret); never printed. */
  key: string;
}

export interface Skipped {
  path: string;
  reason: 'binary' | 'too large' | 'unreadable' | 'not a regular file';
}

export interface ScanResult {
  findings: Finding[];
  skipped: Skipped[];
  filesScanned: number;
}

/** Keys of a prefix anywhere in text: not glued to other key characters on either side. */
function candidatePattern(prefix: string): RegExp {
  const tail = SECRET_LENGTH + CHECKSUM_LENGTH;
  return new RegExp(
    `(?<![0-9A-Za-z_])${prefix}_[0-9A-Za-z]{${KEY_ID_LENGTH}}_[0-9A-Za-z]{${tail}}(?![0-9A-Za-z_])`,
    'g',
  );
}

/** The keys (valid checksum) in a text, with their line numbers. */
export function findKeys(text: string, prefix: string, path: string): Finding[] {
  const findings: Finding[] = [];
  let line = 1;
  let counted = 0;
  for (const match of text.matchAll(candidatePattern(prefix))) {
    const parsed = parseKey(match[0], prefix);
    if (!parsed) continue;
    let newline = text.indexOf('\n', counted);
    while (newline !== -1 && newline < match.index) {
      line++;
      newline = text.indexOf('\n', newline + 1);
    }
    counted = match.index;
    findings.push({ path, line, keyId: parsed.keyId, hint: keyHint(parsed.fullKey), key: parsed.fullKey });
  }
  return findings;
}

export interface ScanOptions {
  prefix: string;
  /** Also look inside .git and node_modules. */
  includeSkippedFolders?: boolean;
  /** Standard input, for `-`. */
  stdin?: () => Promise<Buffer>;
}

/** Scans files and folders (recursively, symbolic links not followed) and `-` (standard input). */
export async function scanPaths(paths: string[], options: ScanOptions): Promise<ScanResult> {
  const result: ScanResult = { findings: [], skipped: [], filesScanned: 0 };
  for (const path of paths) {
    if (path === '-') {
      const input = (await options.stdin?.()) ?? Buffer.alloc(0);
      result.filesScanned++;
      result.findings.push(...findKeys(input.toString('utf8'), options.prefix, '-'));
    } else {
      await scanPath(path, options, result, true);
    }
  }
  return result;
}

async function scanPath(path: string, options: ScanOptions, result: ScanResult, given: boolean): Promise<void> {
  let stats;
  try {
    stats = await lstat(path);
  } catch {
    result.skipped.push({ path, reason: 'unreadable' });
    return;
  }
  if (stats.isDirectory()) {
    let entries;
    try {
      entries = await readdir(path, { withFileTypes: true });
    } catch {
      result.skipped.push({ path, reason: 'unreadable' });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (!options.includeSkippedFolders && entry.isDirectory() && SKIPPED_FOLDERS.has(entry.name)) continue;
      if (entry.isSymbolicLink()) continue; // a link may point anywhere, loops included
      await scanPath(join(path, entry.name), options, result, false);
    }
    return;
  }
  if (!stats.isFile()) {
    // Sockets, devices, FIFOs: reading one could block forever. A link named on the command line is skipped too.
    if (given) result.skipped.push({ path, reason: 'not a regular file' });
    return;
  }
  if (stats.size > MAX_FILE_BYTES) {
    result.skipped.push({ path, reason: 'too large' });
    return;
  }
  let content: Buffer;
  try {
    const file = await open(path, 'r');
    try {
      content = await file.readFile();
    } finally {
      await file.close();
    }
  } catch {
    result.skipped.push({ path, reason: 'unreadable' });
    return;
  }
  if (content.subarray(0, BINARY_SNIFF_BYTES).includes(0)) {
    result.skipped.push({ path, reason: 'binary' });
    return;
  }
  result.filesScanned++;
  result.findings.push(...findKeys(content.toString('utf8'), options.prefix, path));
}
