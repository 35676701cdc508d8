import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { generateKey } from '../../packages/member/src/key-format.js';
import { runCli as cli } from '../support/cli-process.js';

/*
 * Issue 28: `scan --help` and `create-account --help` failed with ERR_PARSE_ARGS_UNKNOWN_OPTION, `list-keys
 * --help` and `revoke-key --help` opened the database, and scan said "in 1 files". (Apart from cli.test.ts:
 * one process per command and flag, which would take that file past tap's time limit per file.)
 */

t.test('keyward <command> --help prints that command and opens nothing, for every command', async (t) => {
  // A database that is not there: any command that tried to open it would fail.
  const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', KEYWARD_SECRET: 'x'.repeat(32) };
  const help = await cli(['help'], env);
  t.equal(help.code, 0, help.output);
  // Every command `keyward help` lists (a new one is covered once it declares its usage).
  const commands = [...new Set([...help.output.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((match) => match[1]!))];
  t.ok(commands.length >= 7, `commands listed: ${commands.join(', ')}`);
  for (const command of commands.filter((name) => name !== 'help')) {
    for (const args of [
      [command, '--help'],
      [command, '-h'],
    ]) {
      const answer = await cli(args, env);
      t.equal(answer.code, 0, `${args.join(' ')}: ${answer.output}`);
      t.match(answer.output, new RegExp(`^usage: keyward ${command} …\\n\\n  ${command}`), args.join(' '));
    }
  }
  const byName = await cli(['help', 'scan'], env);
  t.equal(byName.code, 0, 'help scan');
  t.match(byName.output, /^usage: keyward scan …\n\n {2}scan/);
  const sub = await cli(['members', 'create', '--help'], env);
  t.equal(sub.code, 0, 'members create --help');
  t.match(sub.output, /^usage: keyward members …/);
  const unknown = await cli(['help', 'nonsense'], env);
  t.equal(unknown.code, 2, 'help for an unknown command');
  t.match(unknown.output, /^unknown command: nonsense/);
});

t.test('scan counts in the singular and the plural', async (t) => {
  const folder = mkdtempSync(join(tmpdir(), 'keyward-scan-count-'));
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  writeFileSync(join(folder, 'config.ts'), `export const key = '${generateKey('kw').key}';\n`);
  const one = await cli(['scan', folder], { KEYWARD_KEY_PREFIX: 'kw' });
  t.equal(one.code, 1, one.output);
  t.match(one.output, /^1 key found \(1 distinct\) in 1 file; 0 skipped/m);
  writeFileSync(join(folder, 'other.ts'), 'nothing here\n');
  const two = await cli(['scan', join(folder, 'other.ts')], { KEYWARD_KEY_PREFIX: 'kw' });
  t.equal(two.code, 0, two.output);
  t.match(two.output, /^0 keys found \(0 distinct\) in 1 file; 0 skipped/m);
});
