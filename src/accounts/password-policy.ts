/**
 * The password rules, after NIST SP 800-63B (5.1.1.2): a length counted in Unicode code points, no
 * composition rules (no "one digit, one symbol"), the password used exactly as typed (never trimmed,
 * normalised or cut: the rules compare a folded copy), and refused when it is common, repetitive or
 * sequential, or built on the account's own words. One function, so sign-up, `keyward create-account` and
 * a future change-password route apply the same rules.
 */
import { readFileSync } from 'node:fs';

/** Fewest code points a password may have (800-63B asks for at least 8). */
export const PASSWORD_MIN_LENGTH = 10;
/** Most code points a password may have (800-63B: at least 64 allowed). */
export const PASSWORD_MAX_LENGTH = 256;
/**
 * Fewest characters that are not a repeat or a ±1 step from the one before ("1234567890" has 1,
 * "aaaaaaaaaa" 1, "abcdefgh12" 2; a word of 10 letters has about 8).
 */
const MIN_SURPRISES = 5;
/** Fewest characters a password must have besides the account's own words and the service's name. */
const MIN_LENGTH_BESIDES_CONTEXT = 8;
/** Most digits and symbols around a common word for it to count as that word ("password12", "Summer2024!"). */
const MAX_AFFIX_LENGTH = 6;
const SERVICE_NAME = 'keyward';
/** Keyboard walks no list holds in every length. */
const KEYBOARD_WALKS = [
  '`1234567890-=',
  'qwertyuiop[]\\',
  "asdfghjkl;'",
  'zxcvbnm,./',
  'qwertzuiop',
  'azertyuiop',
  '1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p',
  'zaq1xsw2cde3vfr4bgt5nhy6mju7',
];
const LEET: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's' };

/** What the rules know about the account the password is for. */
export interface PasswordContext {
  email?: string;
  accountName?: string;
}

let commonPasswords: ReadonlySet<string> | undefined;

/**
 * The 20,000 most common passwords, lowercased (src/accounts/common-passwords.txt, ~150 KB, written by
 * `npm run passwords`). Read on the first check, so a process that never sets a password (a service
 * checking keys with the library) never loads it.
 */
function common(): ReadonlySet<string> {
  commonPasswords ??= new Set(
    readFileSync(new URL('./common-passwords.txt', import.meta.url), 'utf8')
      .split('\n')
      .filter((line) => line !== ''),
  );
  return commonPasswords;
}

/** The copy the rules compare: compatibility-normalised and lowercased. The password itself is never changed. */
function fold(text: string): string {
  return text.normalize('NFKC').toLowerCase();
}

function codePoints(text: string): number[] {
  return Array.from(text, (char) => char.codePointAt(0)!);
}

const isDigit = (codePoint: number) => codePoint >= 48 && codePoint <= 57;

/** 0 for a repeat, 1 or -1 for a step ("9" then "0" is a step), anything else otherwise. */
function step(previous: number, current: number): number {
  if (isDigit(previous) && isDigit(current)) {
    const forward = (current - previous + 10) % 10;
    return forward === 9 ? -1 : forward;
  }
  return current - previous;
}

/** Characters that are neither a repeat nor a ±1 step from the one before. */
function surprises(points: number[]): number {
  let count = 0;
  for (let index = 0; index < points.length; index++) {
    if (index > 0 && Math.abs(step(points[index - 1]!, points[index]!)) <= 1) continue;
    count++;
  }
  return count;
}

/** One unit said again and again ("abcabcabca", "passpass"), a trailing partial unit allowed. */
function repeatsOneUnit(points: number[]): boolean {
  for (let unit = 1; unit <= points.length / 2; unit++) {
    if (points.every((point, index) => point === points[index % unit])) return true;
  }
  return false;
}

function onKeyboardWalk(folded: string): boolean {
  return KEYBOARD_WALKS.some((walk) => {
    const reversed = [...walk].reverse().join('');
    return walk.includes(folded) || reversed.includes(folded);
  });
}

/** The password without the digits, symbols and spaces around its letters, when they are few. */
function core(folded: string): string | null {
  const match = /^([^\p{L}]*)(.*?)([^\p{L}]*)$/su.exec(folded)!;
  const affixes = codePoints(match[1]! + match[3]!).length;
  const word = match[2]!;
  return affixes > 0 && affixes <= MAX_AFFIX_LENGTH && word !== '' ? word : null;
}

function unleet(text: string): string {
  return text.replace(/[013457@$]/g, (char) => LEET[char]!);
}

function isCommon(folded: string): boolean {
  const list = common();
  const word = core(folded);
  const candidates = [folded, unleet(folded), ...(word === null ? [] : [word, unleet(word)])];
  return candidates.some((candidate) => list.has(candidate) || list.has(candidate.replace(/\s+/g, '')));
}

/** The account's own words (3 code points or more): the email, its parts, the account name and its words. */
function contextWords(context: PasswordContext): string[] {
  const words = new Set<string>([SERVICE_NAME]);
  const add = (word: string) => {
    if (codePoints(word).length >= 3) words.add(word);
  };
  if (context.email !== undefined) {
    const email = fold(context.email.trim());
    add(email);
    const at = email.lastIndexOf('@');
    const local = at === -1 ? email : email.slice(0, at);
    add(local);
    local.split(/[._+-]+/).forEach(add);
    if (at !== -1)
      email
        .slice(at + 1)
        .split('.')
        .slice(0, -1)
        .forEach(add); // not the top-level domain
  }
  if (context.accountName !== undefined) {
    const name = fold(context.accountName.trim());
    add(name);
    name.split(/[^\p{L}\p{N}]+/u).forEach(add);
  }
  return [...words].sort((a, b) => b.length - a.length); // longest first: the email before its local part
}

function builtOnContext(folded: string, context: PasswordContext): boolean {
  let rest = folded;
  let found = false;
  for (const word of contextWords(context)) {
    if (rest.includes(word)) {
      found = true;
      rest = rest.split(word).join('');
    }
  }
  return found && codePoints(rest.replace(/[^\p{L}\p{N}]/gu, '')).length < MIN_LENGTH_BESIDES_CONTEXT;
}

/**
 * Why `password` may not be used, in words for the person choosing it, or null when it may. Pure and
 * synchronous; the first call reads the list of common passwords (~10 ms).
 */
export function passwordProblem(password: string, context: PasswordContext = {}): string | null {
  const length = codePoints(password).length;
  if (length < PASSWORD_MIN_LENGTH) {
    return `The password is too short: use at least ${PASSWORD_MIN_LENGTH} characters (this one has ${length}).`;
  }
  if (length > PASSWORD_MAX_LENGTH) {
    return `The password is too long: use at most ${PASSWORD_MAX_LENGTH} characters (this one has ${length}).`;
  }
  const folded = fold(password);
  if (folded.trim() === '') return 'The password is only spaces. Choose a few words or a password manager.';
  const points = codePoints(folded);
  if (repeatsOneUnit(points) || surprises(points) < MIN_SURPRISES || onKeyboardWalk(folded)) {
    return (
      'The password is made of repeats or sequences (like "aaaaaaaaaa", "1234567890" or "abcdefghij"), ' +
      'which are guessed first. Choose a few unrelated words or a password manager.'
    );
  }
  if (isCommon(folded)) {
    return (
      'The password is one of the most common passwords (or one with a few digits or symbols added), ' +
      'which are guessed first. Choose a few unrelated words or a password manager.'
    );
  }
  if (builtOnContext(folded, context)) {
    return (
      `The password is built on the email, the account name or "${SERVICE_NAME}": use at least ` +
      `${MIN_LENGTH_BESIDES_CONTEXT} other letters or digits.`
    );
  }
  return null;
}
