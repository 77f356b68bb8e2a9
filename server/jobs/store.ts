import type Database from 'better-sqlite3';
import type {
  JobAttempt,
  JobFilter,
  JobSpec,
  JobState,
  JobStatus,
  JobView
} from '../../src/protocol/jobs.js';
import { openStateDatabase, type StoreOptions } from './state-database.js';

// Job state in SQLite (WAL, synchronous=FULL: a committed row survives a crash of the server and
// of the machine). The manager writes its intent before acting: a row is committed with
// `submitting` set before the adapter's submit runs, so a crash in between is found on restart.

/** A job as stored: the fields of its wire view (JobView) and what the manager needs to resume it. */
export interface JobRecord extends Pick<
  JobView,
  'id' | 'site' | 'spec' | 'status' | 'nativeId' | 'submitTime'
> {
  /** 1 for the first submission; each retry or redirect is a new attempt */
  attempt: number;
  /** set while a submission is in flight: the scheduler may or may not know the job */
  submitting: boolean;
  cancelRequested: boolean;
  /** site the job moves to once its cancel here is confirmed */
  redirectTo?: string;
  /** directory of the current attempt: script, logs, `.ec` files */
  jobDir: string;
  created: string;
}

interface JobRow {
  id: string;
  site: string;
  spec: string;
  status: string;
  native_id: string | null;
  submit_time: string | null;
  attempt: number;
  submitting: number;
  cancel_requested: number;
  redirect_to: string | null;
  job_dir: string;
  created: string;
}

const FILTER_STATES: Record<JobFilter, JobState[]> = {
  active: ['ACTIVE'],
  waiting: ['NEW', 'QUEUED'],
  failed: ['FAILED', 'CANCELED'],
  completed: ['COMPLETED']
};

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  site TEXT NOT NULL,
  spec TEXT NOT NULL,
  state TEXT NOT NULL,
  status TEXT NOT NULL,
  native_id TEXT,
  submit_time TEXT,
  attempt INTEGER NOT NULL,
  submitting INTEGER NOT NULL,
  cancel_requested INTEGER NOT NULL,
  redirect_to TEXT,
  job_dir TEXT NOT NULL,
  created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS history (
  job_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_job ON history(job_id);
CREATE TABLE IF NOT EXISTS attempts (
  job_id TEXT NOT NULL,
  attempt TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_job ON attempts(job_id);
`;

function fromRow(row: JobRow): JobRecord {
  return {
    id: row.id,
    site: row.site,
    spec: JSON.parse(row.spec) as JobSpec,
    status: JSON.parse(row.status) as JobStatus,
    nativeId: row.native_id ?? undefined,
    submitTime: row.submit_time ?? undefined,
    attempt: row.attempt,
    submitting: row.submitting === 1,
    cancelRequested: row.cancel_requested === 1,
    redirectTo: row.redirect_to ?? undefined,
    jobDir: row.job_dir,
    created: row.created
  };
}

function toParams(job: JobRecord): Record<string, string | number | null> {
  return {
    id: job.id,
    site: job.site,
    spec: JSON.stringify(job.spec),
    state: job.status.state,
    status: JSON.stringify(job.status),
    native_id: job.nativeId ?? null,
    submit_time: job.submitTime ?? null,
    attempt: job.attempt,
    submitting: job.submitting ? 1 : 0,
    cancel_requested: job.cancelRequested ? 1 : 0,
    redirect_to: job.redirectTo ?? null,
    job_dir: job.jobDir,
    created: job.created
  };
}

export class JobStore {
  private readonly db: Database.Database;
  private readonly statements: {
    insert: Database.Statement;
    update: Database.Statement;
    addHistory: Database.Statement;
    get: Database.Statement;
  };

  constructor(options: StoreOptions) {
    this.db = openStateDatabase(options, SCHEMA);
    const columns =
      'id, site, spec, state, status, native_id, submit_time, attempt, submitting, cancel_requested, redirect_to, job_dir, created';
    this.statements = {
      insert: this.db.prepare(
        `INSERT INTO jobs (${columns}) VALUES (${columns
          .split(', ')
          .map(c => '@' + c)
          .join(', ')})`
      ),
      update: this.db.prepare(
        `UPDATE jobs SET ${columns
          .split(', ')
          .filter(c => c !== 'id')
          .map(c => `${c} = @${c}`)
          .join(', ')} WHERE id = @id`
      ),
      addHistory: this.db.prepare('INSERT INTO history (job_id, attempt, status) VALUES (?, ?, ?)'),
      get: this.db.prepare('SELECT * FROM jobs WHERE id = ?')
    };
  }

  /** Inserts a new job with its first status, in one transaction. */
  insert(job: JobRecord): void {
    this.db.transaction(() => {
      this.statements.insert.run(toParams(job));
      this.statements.addHistory.run(job.id, job.attempt, JSON.stringify(job.status));
    })();
  }

  /** Saves the job; `newStatus` also goes into its history (same transaction). */
  save(job: JobRecord, newStatus = false): void {
    this.db.transaction(() => {
      this.statements.update.run(toParams(job));
      if (newStatus) {
        this.statements.addHistory.run(job.id, job.attempt, JSON.stringify(job.status));
      }
    })();
  }

  /** Saves the job together with the record of the attempt it just left. */
  saveWithAttempt(job: JobRecord, previous: JobAttempt): void {
    this.db.transaction(() => {
      this.db
        .prepare('INSERT INTO attempts (job_id, attempt) VALUES (?, ?)')
        .run(job.id, JSON.stringify(previous));
      this.statements.update.run(toParams(job));
      this.statements.addHistory.run(job.id, job.attempt, JSON.stringify(job.status));
    })();
  }

  previousAttempts(jobId: string): JobAttempt[] {
    const rows = this.db
      .prepare('SELECT attempt FROM attempts WHERE job_id = ? ORDER BY rowid')
      .all(jobId) as { attempt: string }[];
    return rows.map(r => JSON.parse(r.attempt) as JobAttempt);
  }

  get(id: string): JobRecord | undefined {
    const row = this.statements.get.get(id) as JobRow | undefined;
    return row ? fromRow(row) : undefined;
  }

  list(filter?: JobFilter): JobRecord[] {
    const rows = filter
      ? (this.db
          .prepare(
            `SELECT * FROM jobs WHERE state IN (${FILTER_STATES[filter].map(() => '?').join(', ')}) ORDER BY seq`
          )
          .all(...FILTER_STATES[filter]) as JobRow[])
      : (this.db.prepare('SELECT * FROM jobs ORDER BY seq').all() as JobRow[]);
    return rows.map(fromRow);
  }

  /** Jobs that are not final yet: the ones a (re)started manager must track. */
  unfinished(): JobRecord[] {
    const rows = this.db
      .prepare(
        "SELECT * FROM jobs WHERE state NOT IN ('COMPLETED', 'FAILED', 'CANCELED') ORDER BY seq"
      )
      .all() as JobRow[];
    return rows.map(fromRow);
  }

  history(id: string): JobStatus[] {
    const rows = this.db
      .prepare('SELECT status FROM history WHERE job_id = ? ORDER BY rowid')
      .all(id) as { status: string }[];
    return rows.map(r => JSON.parse(r.status) as JobStatus);
  }

  view(job: JobRecord): JobView {
    return {
      id: job.id,
      site: job.site,
      spec: job.spec,
      status: job.status,
      nativeId: job.nativeId,
      submitTime: job.submitTime,
      attempts: job.attempt,
      history: this.history(job.id),
      previousAttempts: this.previousAttempts(job.id)
    };
  }

  close(): void {
    this.db.close();
  }
}
