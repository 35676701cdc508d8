#!/usr/bin/env node
/**
 * The `keyward` command: the server, migrations, and the incident tools an
 * operator needs at 3 a.m.
 */
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { ConfigError, loadEnv } from './config/env.js';
import { isKeyId, parseKey } from '../packages/member/src/key-format.js';
import { reportStartupError } from './config/startup-error.js';
import type { Runtime } from './app/runtime.js';
import type { Finding } from './leaks/key-scan.js';
import type { Actor } from './audit/audit-log.js';
import type { PasswordContext } from './accounts/password-policy.js';

// Everything else is imported by the command that needs it: `keyward <command> --help` and `keyward scan`
// load no server, database driver or Redis client (about 2 s of a 3 s `--help` before).

/**
 * Control characters that a terminal obeys (C0 such as ESC, BEL, CR, LF; DEL; C1) and Unicode controls that
 * reorder or break what is shown (bidi overrides and isolates, line and paragraph separators).
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const TERMINAL_CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/**
 * Text as an operator's terminal may show it: key names and emails are customer text, and a name holding
 * ESC sequences or a CR could clear the screen, retitle the window or forge a line of this command's output.
 */
function printable(text: string): string {
  return text.replace(TERMINAL_CONTROLS, (char) => {
    const code = char.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** `1 file`, `2 files`, `0 files`. */
function counted(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** Rows as aligned columns, every cell printable (console.table leaves bidi controls as they are). */
function printTable(rows: Array<Record<string, string | number>>): void {
  const columns = Object.keys(rows[0]!);
  const cells = [columns, ...rows.map((row) => columns.map((column) => printable(String(row[column]))))];
  const widths = columns.map((_, index) => Math.max(...cells.map((line) => line[index]!.length)));
  for (const line of cells)
    console.log(
      line
        .map((cell, index) => cell.padEnd(widths[index]!))
        .join('  ')
        .trimEnd(),
    );
}

/** Operators act from the command line: recorded in the audit log as cli:<os user>. */
function operator(): Actor {
  return { userId: null, email: `cli:${userInfo().username}`, clientAddress: 'local', userAgent: 'keyward-cli' };
}

/**
 * The runtime's warnings and errors as lines for a person on stderr (`keyward: warning: …`): the server logs
 * JSON for log collectors, a command prints for whoever typed it.
 */
async function commandLogger() {
  const { default: pino } = await import('pino');
  return pino(
    { level: 'warn' },
    {
      write(line: string) {
        const { level, msg, err } = JSON.parse(line) as { level: number; msg: string; err?: { message?: string } };
        const detail = err?.message ? ` (${err.message})` : '';
        process.stderr.write(`keyward: ${level >= 50 ? 'error' : 'warning'}: ${printable(msg + detail)}\n`);
      },
    },
  );
}

/**
 * Opens what a command needs. `revokes`: the command revokes keys or member credentials, so that it warns
 * when running servers cannot hear of it (Postgres without Redis); on the embedded database no server can be
 * running beside it (the data folder is locked), and commands that only read have nothing to warn about.
 */
async function withRuntime<T>(work: (runtime: Runtime) => Promise<T>, { revokes = false } = {}): Promise<T> {
  const env = loadEnv();
  const { openRuntime } = await import('./app/runtime.js');
  const runtime = await openRuntime(env, await commandLogger(), {
    skipMigrations: true,
    deliverWebhooks: false, // the servers deliver what a command writes to the outbox
    warnSingleInstance: revokes && env.DATABASE_URL !== undefined,
  });
  try {
    return await work(runtime);
  } finally {
    await runtime.close();
  }
}

async function revokeKey(argument: string | undefined): Promise<void> {
  if (!argument) throw new ConfigError('revoke-key needs a key or a key id');
  await withRuntime(
    async (runtime) => {
      const parsed = parseKey(argument, runtime.env.KEYWARD_KEY_PREFIX);
      if (!parsed && !isKeyId(argument)) throw new ConfigError('not a key of this deployment, nor a key id');
      const keyId = parsed ? parsed.keyId : argument;
      const accountId = await runtime.keys.accountOfKey(keyId, parsed?.fullKey);
      const key = await runtime.keys.revokeKey({ accountId, actor: operator(), keyId });
      console.log(
        printable(`revoked ${key.hint} (${key.name}) of account ${accountId}: refused by every instance from now on`),
      );
    },
    { revokes: true },
  );
}

async function listKeys(argument: string | undefined): Promise<void> {
  if (!argument) throw new ConfigError('list-keys needs an email or an account id');
  await withRuntime(async (runtime) => {
    const accountId = await runtime.accounts.findAccountId(argument);
    if (!accountId) throw new ConfigError(printable(`no account for ${argument}`));
    const rows = (await runtime.keys.listKeys(accountId)).map((key) => ({
      id: key.id,
      name: key.name,
      hint: key.hint,
      status: key.status,
      created: key.createdAt.toISOString(),
      'last used': key.lastUsedAt?.toISOString() ?? 'never',
      '24h': key.requestsLast24h,
      'refused 24h': key.rejectedLast24h,
    }));
    if (rows.length === 0) console.log('no keys');
    else printTable(rows);
  });
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `keyward scan`: exit 1 when a key was found (a pre-commit hook or CI step fails), 0 otherwise. */
async function scan(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { revoke: { type: 'boolean' }, prefix: { type: 'string' }, all: { type: 'boolean' } },
  });
  const prefix = values.prefix ?? loadEnv().KEYWARD_KEY_PREFIX;
  if (!/^[a-z][a-z0-9]{0,15}$/.test(prefix)) throw new ConfigError('--prefix must match [a-z][a-z0-9]{0,15}');
  const { scanPaths } = await import('./leaks/key-scan.js');
  const result = await scanPaths(positionals.length > 0 ? positionals : ['.'], {
    prefix,
    includeSkippedFolders: values.all,
    stdin: readStdin,
  });
  for (const finding of result.findings) {
    console.log(`${printable(finding.path === '-' ? '<stdin>' : finding.path)}:${finding.line}: ${finding.hint}`);
  }
  for (const skipped of result.skipped.filter((entry) => entry.reason === 'unreadable')) {
    console.error(printable(`skipped ${skipped.path}: ${skipped.reason}`));
  }
  const keys = new Map<string, Finding>(result.findings.map((finding) => [finding.key, finding]));
  console.error(
    `${counted(result.findings.length, 'key')} found (${keys.size} distinct) in ${counted(result.filesScanned, 'file')}; ` +
      `${result.skipped.length} skipped (binary, too large, unreadable)`,
  );
  if (values.revoke && keys.size > 0) await revokeFound([...keys.values()]);
  process.exitCode = result.findings.length > 0 ? 1 : 0;
}

/** Revokes found keys through the same path as revoke-key: fleet-wide, audited as cli:<user>. */
async function revokeFound(found: Finding[]): Promise<void> {
  await withRuntime(
    async (runtime) => {
      for (const finding of found) {
        let accountId: string;
        try {
          accountId = await runtime.keys.accountOfKey(finding.keyId, finding.key);
        } catch (error) {
          if ((error as { code?: string }).code !== 'KW_KEY_NOT_FOUND') throw error;
          console.log(`${finding.hint}: not a key of this deployment's database (or its secret does not match)`);
          continue;
        }
        const key = await runtime.keys.revokeKey({ accountId, actor: operator(), keyId: finding.keyId });
        console.log(printable(`revoked ${key.hint} (${key.name}) of account ${accountId}`));
      }
    },
    { revokes: true },
  );
}

/** A generated password: 24 base64url characters (144 random bits), drawn again in the unlikely case the rules refuse it. */
function generatedPassword(context: PasswordContext, passwordProblem: PasswordProblem): string {
  for (;;) {
    const password = randomBytes(18).toString('base64url');
    if (passwordProblem(password, context) === null) return password;
  }
}

async function createAccount(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { email: { type: 'string' }, name: { type: 'string' } } });
  if (values.email === undefined || values.name === undefined) {
    throw new ConfigError('create-account needs --email and --name');
  }
  const email = values.email;
  const accountName = values.name;
  // Checked by the same schema and password rules as POST /v1/signup.
  const [{ SignUpBody }, { bodyValidator }, { passwordProblem }] = await Promise.all([
    import('./accounts/account-schemas.js'),
    import('./http/validation.js'),
    import('./accounts/password-policy.js'),
  ]);
  const validSignUp = bodyValidator(SignUpBody);
  const given = process.env.KEYWARD_NEW_PASSWORD;
  const password = given || generatedPassword({ email, accountName }, passwordProblem);
  if (!validSignUp({ email, password, accountName })) {
    const field = validSignUp.errors?.[0]?.instancePath.slice(1);
    if (field === 'email') throw new ConfigError(printable(`not a valid email address: ${email}`));
    if (field === 'accountName') {
      throw new ConfigError('--name must hold at least one non-space character, and at most 100 characters');
    }
    throw new ConfigError(`KEYWARD_NEW_PASSWORD: ${passwordProblem(password, { email, accountName }) ?? 'refused'}`);
  }
  const problem = passwordProblem(password, { email, accountName });
  if (problem !== null) throw new ConfigError(`KEYWARD_NEW_PASSWORD: ${problem}`);
  await withRuntime(async (runtime) => {
    const session = await runtime.accounts.createAccount(
      { email, password, accountName },
      { clientAddress: 'local', userAgent: 'keyward-cli' },
    );
    console.log(printable(`created account ${session.user.accountId} with user ${session.user.email}`));
    if (!given) console.log(`password (shown once): ${password}`);
  });
}

/** `keyward reset-password <email>`: an operator's way back in for a user who forgot their password. */
async function resetPassword(args: string[]): Promise<void> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const [email] = positionals;
  if (!email || positionals.length > 1) throw new ConfigError('reset-password needs one email');
  const { passwordProblem } = await import('./accounts/password-policy.js');
  const given = process.env.KEYWARD_NEW_PASSWORD;
  await withRuntime(async (runtime) => {
    // The service checks the password against the sign-up rules with the user's email and account name.
    const password = given || generatedPassword({ email, accountName: '' }, passwordProblem);
    let reset;
    try {
      reset = await runtime.accounts.resetPassword(email, password, operator());
    } catch (error) {
      if ((error as { code?: string }).code === 'KW_WEAK_PASSWORD') {
        throw new ConfigError(`KEYWARD_NEW_PASSWORD: ${(error as Error).message}`);
      }
      throw error;
    }
    if (!reset) throw new ConfigError(printable(`no user with the email ${email}`));
    console.log(
      printable(
        `password of ${reset.user.email} (account ${reset.user.accountId}) reset; ` +
          `${counted(reset.sessionsEnded, 'session')} signed out`,
      ),
    );
    if (!given) console.log(`password (shown once): ${password}`);
  });
}

/** `keyward members …`: the credentials services of the fleet check keys with. */
async function members(args: string[]): Promise<void> {
  const [action, argument] = args;
  if (action === 'redis-acl') {
    const password = process.env.KEYWARD_MEMBER_REDIS_PASSWORD;
    if (!argument || !/^[A-Za-z0-9._-]{1,64}$/.test(argument)) {
      throw new ConfigError('members redis-acl needs a user name ([A-Za-z0-9._-], e.g. keyward-member)');
    }
    if (!password || password.length < 32 || /[\s'"]/.test(password)) {
      throw new ConfigError(
        'set KEYWARD_MEMBER_REDIS_PASSWORD to a password of at least 32 characters, no spaces or quotes',
      );
    }
    const { memberAclCommand } = await import('./members/member-redis-acl.js');
    console.log(memberAclCommand(loadEnv().REDIS_KEY_PREFIX, argument, password));
    return;
  }
  await withRuntime(
    async (runtime) => {
      switch (action) {
        case 'create': {
          if (!argument) throw new ConfigError('members create needs a name, e.g. keyward members create orders-api');
          let created;
          try {
            created = await runtime.members.create(argument, operator());
          } catch (error) {
            if (error instanceof RangeError) throw new ConfigError(error.message);
            throw error;
          }
          console.log(printable(`created member ${created.member.id} (${created.member.name})`));
          console.log(`credential (shown once; give it to the service as KEYWARD_MEMBER_CREDENTIAL):`);
          console.log(created.credential);
          return;
        }
        case 'list': {
          const rows = (await runtime.members.list()).map((member) => ({
            id: member.id,
            name: member.name,
            status: member.revokedAt ? 'revoked' : 'active',
            created: member.createdAt.toISOString(),
            'last seen': member.lastSeenAt?.toISOString() ?? 'never',
          }));
          if (rows.length === 0) console.log('no members');
          else printTable(rows);
          return;
        }
        case 'revoke': {
          if (!argument) throw new ConfigError('members revoke needs a member id (keyward members list)');
          const member = await runtime.members.revoke(argument, operator());
          if (!member) throw new ConfigError(printable(`no member ${argument}`));
          await runtime.keyChecking.fleet.members?.memberRevoked(member.id).catch(() => {
            console.error(
              'Redis did not take the news: the member stops at its next heartbeat (a fraction of a second)',
            );
          });
          console.log(
            printable(`revoked member ${member.id} (${member.name}): its services refuse every key from now on`),
          );
          return;
        }
        default:
          throw new ConfigError('usage: keyward members create <name> | list | revoke <member id>');
      }
    },
    { revokes: action === 'revoke' },
  );
}

/** A whole positive number from the command line, or a ConfigError naming the option. */
function positiveInteger(option: string, value: string | undefined, max: number): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < 1 || number > max) {
    throw new ConfigError(printable(`${option} must be a whole number from 1 to ${max}, not ${value}`));
  }
  return number;
}

/** `keyward set-plan`: an account's rate limit and monthly quota, on every instance before it returns. */
async function setPlan(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      requests: { type: 'string' },
      window: { type: 'string' },
      'monthly-quota': { type: 'string' },
      default: { type: 'boolean' },
    },
  });
  const [account] = positionals;
  if (!account) throw new ConfigError('set-plan needs an email or an account id');
  const requests = positiveInteger('--requests', values.requests, 1_000_000_000);
  const windowSeconds = positiveInteger('--window', values.window, 86_400);
  const monthlyQuota = positiveInteger('--monthly-quota', values['monthly-quota'], 1_000_000_000_000);
  if ((requests === undefined) !== (windowSeconds === undefined)) {
    throw new ConfigError('--requests and --window go together: N requests per S seconds');
  }
  if (values.default && (requests !== undefined || monthlyQuota !== undefined)) {
    throw new ConfigError('--default takes no limits: it returns the account to KEYWARD_ACCOUNT_*');
  }
  if (!values.default && requests === undefined && monthlyQuota === undefined) {
    throw new ConfigError('set-plan needs --requests and --window, --monthly-quota, or --default');
  }
  const { setAccountPlan } = await import('./rate-limits/account-plans.js');
  await withRuntime(
    async (runtime) => {
      const accountId = await runtime.accounts.findAccountId(account);
      if (!accountId) throw new ConfigError(printable(`no account for ${account}`));
      const plan = values.default
        ? null
        : {
            rateLimit: requests === undefined ? null : { requests, windowSeconds: windowSeconds! },
            monthlyQuota: monthlyQuota ?? null,
          };
      const { keysUpdated } = await setAccountPlan(
        runtime.database.db,
        runtime.keyChecking.fleet.announcer,
        accountId,
        plan,
      );
      const limits = await runtime.keys.accountLimits(accountId);
      const rate = limits.account
        ? `${limits.account.requests} requests per ${limits.account.windowSeconds} s`
        : 'none';
      const quota = limits.monthlyQuota === null ? 'none' : `${limits.monthlyQuota} requests per month`;
      console.log(
        `account ${accountId}: rate limit ${rate}; monthly quota ${quota}${plan === null ? ' (the defaults)' : ''}`,
      );
      console.log(`enforced by every instance now (${counted(keysUpdated, 'active key')} updated)`);
    },
    { revokes: true }, // running servers must hear of it
  );
}

type PasswordProblem = (typeof import('./accounts/password-policy.js'))['passwordProblem'];

interface Command {
  /**
   * Its lines in `keyward help`: each form at two spaces, the description from column 34, continued on
   * lines indented further. `keyward <command> --help` prints them and runs nothing.
   */
  usage: string;
  run(args: string[]): Promise<void>;
}

/** Every command, in the order `keyward help` lists them; a command is added here, with its usage. */
const COMMANDS: Record<string, Command> = {
  serve: {
    usage: '  serve                          run the HTTP server (the default)',
    run: async () => (await import('./serve.js')).serve(),
  },
  migrate: {
    usage: '  migrate                        apply database migrations, then exit (run before a rollout)',
    run: migrate,
  },
  'revoke-key': {
    usage: '  revoke-key <key | key id>      revoke a key now, on every instance (a leaked key can be pasted whole)',
    run: (args) => revokeKey(args[0]),
  },
  'list-keys': {
    usage: "  list-keys <email | account id> list an account's keys",
    run: (args) => listKeys(args[0]),
  },
  scan: {
    usage: `  scan [--revoke] [--prefix P] [--all] [paths…]
                                 find keys of this deployment in files and folders (default: .; - reads
                                 stdin), skipping .git and node_modules (--all: not) and binary or huge files;
                                 prints file:line: <hint>, never the key; exits 1 when it found any, else 0.
                                 --revoke revokes what it found, on every instance (needs the database)`,
    run: scan,
  },
  members: {
    usage: `  members create <name>          create a member credential for a service of the fleet (printed once)
  members list                   list member credentials
  members revoke <member id>     revoke a member credential: its services stop checking keys at once
  members redis-acl <user>       print the Redis ACL of a member user (listen and acknowledge only), with
                                 the password from KEYWARD_MEMBER_REDIS_PASSWORD`,
    run: members,
  },
  'create-account': {
    usage: `  create-account --email E --name N
                                 create an account and its first user (also when sign-up is closed);
                                 the password is read from KEYWARD_NEW_PASSWORD (the sign-up password
                                 rules apply) or generated and printed once`,
    run: createAccount,
  },
  'reset-password': {
    usage: `  reset-password <email>         set a new password for a user who forgot theirs, and sign out every
                                 session of that user; the password is read from KEYWARD_NEW_PASSWORD (the
                                 sign-up password rules apply) or generated and printed once`,
    run: resetPassword,
  },
  'set-plan': {
    usage: `  set-plan <email | account id> [--requests N --window S] [--monthly-quota Q] | --default
                                 set an account's plan: at most N requests per S seconds over all its keys
                                 together, Q per calendar month; a limit not given is none for this account;
                                 --default returns it to KEYWARD_ACCOUNT_*. Every instance enforces it before
                                 this returns`,
    run: setPlan,
  },
};

const USAGE = `usage: keyward <command> [arguments]

${Object.values(COMMANDS)
  .map((command) => command.usage)
  .join('\n')}
  help [command]                 print this, or one command's usage (also: keyward <command> --help)

Configuration comes from the same environment variables as the server (see docs/configuration.md).`;

function usageOf(name: string, command: Command): string {
  return `usage: keyward ${name} …\n\n${command.usage}`;
}

async function migrate(): Promise<void> {
  const env = loadEnv();
  if (!env.DATABASE_URL) throw new ConfigError('migrate needs DATABASE_URL (the embedded database migrates on start)');
  const { migratePostgresDatabase } = await import('./db/database.js');
  await migratePostgresDatabase(env.DATABASE_URL);
  console.log('migrations applied');
}

/** Whether the arguments ask for help (`--help` or `-h` before any `--`, after which they are operands). */
function asksForHelp(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

async function main(argv: string[]): Promise<void> {
  const [name = 'serve', ...rest] = argv;
  if (name === 'help' || name === '--help' || name === '-h') {
    const topic = rest[0] === undefined ? undefined : Object.hasOwn(COMMANDS, rest[0]) ? COMMANDS[rest[0]] : null;
    if (topic === null) {
      console.error(`unknown command: ${printable(rest[0]!)}\n\n${USAGE}`);
      process.exit(2);
    }
    console.log(topic ? usageOf(rest[0]!, topic) : USAGE);
    return;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    console.error(`unknown command: ${printable(name)}\n\n${USAGE}`);
    process.exit(2);
  }
  // `keyward <command> --help` prints that command's usage and opens nothing.
  if (asksForHelp(rest)) {
    console.log(usageOf(name, command));
    return;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if ((error as { code?: string }).code === 'KW_KEY_NOT_FOUND') {
    console.error('no such key (or the secret does not match the key id)');
    process.exit(1);
  }
  reportStartupError(error);
});
