/**
 * The database schema, one module per part: what drizzle-kit reads to generate migrations (drizzle/) and what
 * the services import their tables from.
 */
export { MAX_EMAIL_LENGTH, MAX_USER_AGENT_LENGTH } from './columns.js';
export * from './account-tables.js';
export * from './key-tables.js';
export * from './usage-tables.js';
export * from './audit-tables.js';
export * from './webhook-tables.js';
export * from './fleet-tables.js';
