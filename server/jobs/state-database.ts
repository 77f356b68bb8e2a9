import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';

export interface StoreOptions {
  file: string;
  /** path of better_sqlite3.node when running from the bundle (no node_modules) */
  nativeBinding?: string;
}

/**
 * Opens (creating if needed) the job layer's SQLite file with `schema` applied. WAL with
 * synchronous=FULL: a committed row survives a crash of the server and of the machine. The job
 * and pipeline stores each hold their own connection to the same file, hence the busy timeout.
 */
export function openStateDatabase(options: StoreOptions, schema: string): Database.Database {
  fs.mkdirSync(path.dirname(options.file), { recursive: true });
  const db = new Database(options.file, { nativeBinding: options.nativeBinding });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.exec(schema);
  return db;
}
