/**
 * Writes src/accounts/common-passwords.txt, the list the password policy refuses: the 20,000 most common
 * passwords of @zxcvbn-ts/language-common (MIT; a frequency-ordered list from leaked-password corpora),
 * lowercased, one a line. 20,000 keeps the file at ~150 KB in every install of the package; the policy's
 * variants (a common word with digits or symbols around it, leetspeak) catch much of the longer tail.
 * `check`: exits 1 when the committed list differs from what the installed package gives.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const LIST_PATH = 'src/accounts/common-passwords.txt';
const COUNT = 20_000;

const packageDir = dirname(createRequire(import.meta.url).resolve('@zxcvbn-ts/language-common/package.json'));
const ranked = JSON.parse(readFileSync(join(packageDir, 'src', 'passwords.json'), 'utf8')) as string[];
const generated = `${[...new Set(ranked.slice(0, COUNT).map((password) => password.toLowerCase()))].join('\n')}\n`;

const mode = process.argv[2];
if (mode === 'write') {
  writeFileSync(LIST_PATH, generated);
  console.log(`wrote ${LIST_PATH}`);
} else if (mode === 'check') {
  if (readFileSync(LIST_PATH, 'utf8') !== generated) {
    console.error(`${LIST_PATH} is out of date: run \`npm run passwords\` and commit it.`);
    process.exit(1);
  }
  console.log(`${LIST_PATH} matches @zxcvbn-ts/language-common`);
} else {
  console.error('usage: common-passwords.ts write|check');
  process.exit(2);
}
