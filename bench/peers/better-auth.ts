/**
 * better-auth's api-key plugin, a peer row of the hot-path bench: what a Node
 * user would pick instead of keyward. It lives apart from keyward's tree
 * (bench/peers/package.json): its peer dependencies conflict with ours
 * (`--legacy-peer-deps`), and neither keyward's install nor CI should carry
 * it. `ensureInstalled()` installs it on the bench's first run.
 *
 * Configured as a user would for a fair comparison: its own Postgres database
 * (node-postgres pool of 10, like keyward's DATABASE_POOL_SIZE), email and
 * password sign-up to own a key, and the plugin's rate limit off (its default
 * allows 10 requests a day per key, which no load test survives).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const PEERS_DIR = fileURLToPath(new URL('.', import.meta.url));

/** The slice of better-auth's API the bench uses (typed here: the package is absent from keyward's tree). */
interface BetterAuth {
  options: unknown;
  api: {
    signUpEmail(input: { body: { email: string; password: string; name: string } }): Promise<{ user: { id: string } }>;
    createApiKey(input: { body: { userId: string } }): Promise<{ key: string }>;
    verifyApiKey(input: { body: { key: string } }): Promise<{ valid: boolean }>;
  };
}

/** Installs the peers from their lockfile unless present; false (with the reason) when npm cannot. */
export function ensureInstalled(): { installed: true } | { installed: false; reason: string } {
  if (existsSync(`${PEERS_DIR}node_modules/better-auth/package.json`)) return { installed: true };
  const npm = spawnSync('npm', ['ci', '--legacy-peer-deps', '--no-audit', '--no-fund'], {
    cwd: PEERS_DIR,
    encoding: 'utf8',
  });
  if (npm.status === 0) return { installed: true };
  return { installed: false, reason: `npm ci in bench/peers failed: ${(npm.stderr || npm.stdout).slice(-500)}` };
}

// Specifiers in variables: TypeScript must not try to resolve packages that keyward's tree does not have.
const packages = { core: 'better-auth', plugins: 'better-auth/plugins', db: 'better-auth/db', pg: 'pg' };

async function openBetterAuth(databaseUrl: string, secret: string): Promise<BetterAuth> {
  const [{ betterAuth }, { apiKey }, pg] = (await Promise.all([
    import(packages.core),
    import(packages.plugins),
    import(packages.pg),
  ])) as [
    { betterAuth(options: unknown): BetterAuth },
    { apiKey(options: unknown): unknown },
    { default: { Pool: new (options: unknown) => unknown } },
  ];
  return betterAuth({
    database: new pg.default.Pool({ connectionString: databaseUrl, max: 10 }),
    secret,
    emailAndPassword: { enabled: true },
    plugins: [apiKey({ rateLimit: { enabled: false } })],
    logger: { disabled: true },
  });
}

/** Creates better-auth's tables in `databaseUrl`, one user and one API key; returns the key. */
export async function prepareBetterAuthKey(databaseUrl: string, secret: string): Promise<string> {
  const auth = await openBetterAuth(databaseUrl, secret);
  const { getMigrations } = (await import(packages.db)) as {
    getMigrations(options: unknown): Promise<{ runMigrations(): Promise<void> }>;
  };
  await (await getMigrations(auth.options)).runMigrations();
  const { user } = await auth.api.signUpEmail({
    body: { email: 'bench@example.com', password: 'correct horse battery staple', name: 'Bench' },
  });
  return (await auth.api.createApiKey({ body: { userId: user.id } })).key;
}

/** The check a route runs: true when better-auth calls the key valid. */
export async function betterAuthVerifier(
  databaseUrl: string,
  secret: string,
): Promise<(key: string) => Promise<boolean>> {
  const auth = await openBetterAuth(databaseUrl, secret);
  return async (key) => (await auth.api.verifyApiKey({ body: { key } })).valid;
}
