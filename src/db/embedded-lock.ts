import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/env.js';

/**
 * PGlite lets two processes open one data folder without complaint, which
 * corrupts it. This lock file (holding the owner's pid) makes the second
 * process stop with a clear message instead.
 */
export class EmbeddedDataLock {
  private constructor(private readonly path: string) {}

  static acquire(dataDir: string): EmbeddedDataLock {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const path = join(dataDir, 'keyward.lock');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600); // fails if the file exists: atomic
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return new EmbeddedDataLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const owner = Number.parseInt(readFileSync(path, 'utf8'), 10);
        if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) {
          throw new ConfigError(
            `keyward: the embedded database in ${dataDir} is in use by process ${owner}. ` +
              'Stop it, choose another KEYWARD_DATA_DIR, or set DATABASE_URL to share a real Postgres.',
          );
        }
        unlinkSync(path); // left behind by a process that died: take it over
      }
    }
    throw new Error(`keyward: could not lock ${path}`);
  }

  release(): void {
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
