import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

/* Issue 28: a LICENSE file matching package.json's `license`, shipped in the package. */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

t.test('LICENSE is the MIT licence package.json names, and npm pack ships it', async (t) => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license: string };
  t.equal(manifest.license, 'MIT');
  const license = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
  t.match(license, /^MIT License\n\nCopyright \(c\) \d{4} \S/, 'the MIT licence, with a copyright line');
  t.match(license, /Permission is hereby granted, free of charge/);

  // What `npm pack` would put in the tarball (scripts skipped: prepack would build dist/).
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  const [packed] = JSON.parse(stdout) as [{ files: { path: string }[] }];
  t.ok(
    packed.files.some((file) => file.path === 'LICENSE'),
    'LICENSE is in the packed files',
  );
});
