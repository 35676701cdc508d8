// Runs at `npm install` / `npm ci` (package.json "postinstall"), in development and in the Docker image.
//
// postgres.js 3.4.9 defers small socket writes to setImmediate. When the connection closes before that
// tick (Postgres cut inside a transaction: the driver's ROLLBACK is written after the close), the
// deferred write dereferences a null socket and throws from the timer: an uncaught TypeError that kills
// the process, and with the exception caught, a connection whose pending buffer wedges it for good
// (porsager/postgres#1154, #1208; no release has the fix yet). The guard below settles that write
// instead: it drops the buffer and rejects the queries written into it with CONNECTION_CLOSED, the error
// the driver gives for every other write to a closed connection. A query waiting for the connection to
// come back (the driver's `initial`) is not in that buffer and is left to run once it has reconnected.
//
// test/db/postgres-driver.test.ts reproduces the crash and fails without this patch.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const MARKER = 'keyward: guard against a closed socket';
const UNPATCHED = `  function nextWrite(fn) {
    const x = socket.write(chunk, fn)`;
const PATCHED = `  function nextWrite(fn) {
    if (!socket) { // ${MARKER} (porsager/postgres#1208)
      nextWriteTimer !== null && clearImmediate(nextWriteTimer)
      chunk = nextWriteTimer = null
      const closedError = Errors.connection('CONNECTION_CLOSED', options, socket)
      query && queryError(query, closedError)
      while (sent.length) queryError(sent.shift(), closedError)
      query = null
      fn && fn(closedError)
      return false
    }
    const x = socket.write(chunk, fn)`;

// Where Node resolves it from here: the project's node_modules, or the top one when keyward is a dependency.
let packageRoot;
try {
  packageRoot = dirname(createRequire(import.meta.url).resolve('postgres'));
} catch {
  process.exit(0); // not installed: nothing to patch
}
const manifestOf = (dir) => {
  const file = join(dir, 'package.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
};
while (manifestOf(packageRoot).name !== 'postgres') {
  if (dirname(packageRoot) === packageRoot) process.exit(0); // not an npm layout we know: nothing to patch
  packageRoot = dirname(packageRoot);
}
const { version } = manifestOf(packageRoot);

for (const variant of ['src', 'cjs/src', 'cf/src']) {
  const file = join(packageRoot, variant, 'connection.js');
  if (!existsSync(file)) continue;
  const source = readFileSync(file, 'utf8');
  if (source.includes(MARKER)) continue;
  if (!source.includes(UNPATCHED)) {
    // A release that changed nextWrite (with the fix, one hopes): say so rather than fail the install.
    console.warn(`keyward: postgres ${version} ${variant}/connection.js has no unguarded nextWrite; not patched`);
    continue;
  }
  writeFileSync(file, source.replace(UNPATCHED, PATCHED));
}
