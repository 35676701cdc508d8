import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { MIGRATIONS_FOLDER, type DatabaseHandle } from './database.js';
import * as schema from './schema.js';

/**
 * Embedded Postgres (PGlite); `dataDir` undefined keeps it in memory. A file of its own, loaded only by the
 * server's embedded mode: a service that only checks keys never loads PGlite (~27 MB of WebAssembly).
 */
export async function openPglite(dataDir: string | undefined): Promise<DatabaseHandle> {
  const client = await PGlite.create(dataDir);
  const db = drizzlePglite(client, { schema });
  await migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER });
  return { db, close: () => client.close() };
}
