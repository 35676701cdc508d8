import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { EnvSchema } from '../../src/config/env.js';
import { keyPattern } from '../../packages/member/src/key-format.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

const readme = read('README.md');
const pages = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

t.test('every environment variable is documented in the configuration table', async (t) => {
  const configuration = read('docs/configuration.md');
  for (const name of Object.keys(EnvSchema.properties)) {
    t.match(configuration, new RegExp(`^\\| \`${name}\` +\\|`, 'm'), name);
  }
});

t.test('the key format documents the key regex the code uses', async (t) => {
  t.ok(read('docs/guide.md').includes(keyPattern('kw').source));
});

t.test('the README is at most 200 lines', async (t) => {
  const lines = readme.split('\n').length - (readme.endsWith('\n') ? 1 : 0);
  t.ok(lines <= 200, `${lines} lines`);
});

/** Markdown without its fenced code blocks. */
function withoutCodeBlocks(markdown: string): string {
  return markdown.replace(/^ *(```|~~~)[\s\S]*?^ *\1/gm, '');
}

/** Markdown without its code blocks and inline code spans, where no link can be. */
function prose(markdown: string): string {
  return withoutCodeBlocks(markdown).replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchor for each heading: lowercase, spaces to '-', punctuation other than '-' and '_' dropped. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const slugs = new Set<string>();
  const headings = withoutCodeBlocks(markdown).matchAll(/^#{1,6} +(.+?) *#* *$/gm);
  for (const [, text] of headings) {
    const slug = text!
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    slugs.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return slugs;
}

t.test('every relative link of the README and docs/ points to a file and heading that exist', async (t) => {
  let checked = 0;
  for (const page of pages) {
    for (const [, target] of prose(read(page)).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target!)) continue; // https:, mailto:
      checked++;
      const [path, anchor] = target!.split('#', 2) as [string, string | undefined];
      const file = path === '' ? join(ROOT, page) : join(ROOT, dirname(page), decodeURIComponent(path));
      const name = relative(ROOT, file);
      if (!existsSync(file)) {
        t.fail(`${page}: ${target} (no file ${name})`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!name.endsWith('.md')) {
        t.fail(`${page}: ${target} (an anchor into a file that is not Markdown)`);
        continue;
      }
      t.ok(anchors(readFileSync(file, 'utf8')).has(anchor), `${page}: ${target}`);
    }
  }
  t.ok(checked > 20, `${checked} relative links`);
});
