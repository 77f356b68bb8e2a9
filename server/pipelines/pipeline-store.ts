import type Database from 'better-sqlite3';
import type {
  Cell,
  CellState,
  PipelineDefinition,
  RunEvent,
  RunFilter,
  RunState,
  RunView,
  WatchSetting
} from '../../src/protocol/pipelines.js';
import { openStateDatabase, type StoreOptions } from '../jobs/state-database.js';

// Pipeline state in the job layer's SQLite file (its own connection and tables; WAL,
// synchronous=FULL like the job store). The runner writes a run and all of its cells before it
// submits a job, and each job id as soon as the job manager has recorded the job, so a server
// that dies at any moment restarts with every run and cell it had promised.

/** A run as stored: its wire view (RunView) without the events, plus the definition it ran. */
export interface RunRecord extends Omit<RunView, 'auto' | 'events'> {
  /** the definition as it was when the run started: retries and notebooks use this one */
  definition: PipelineDefinition;
  auto: boolean;
}

/** One cell of one run: the job that runs step `step` on scan `scan`. */
export interface RunCell {
  runId: string;
  scan: string;
  step: string;
  state: CellState;
  jobId?: string;
  message?: string;
  updated: string;
  /** when its current job was submitted, and when it started running (durations) */
  submitted?: string;
  started?: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS pipeline_runs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  experiment TEXT NOT NULL,
  pipeline TEXT NOT NULL,
  definition TEXT NOT NULL,
  scans TEXT NOT NULL,
  steps TEXT NOT NULL,
  site TEXT NOT NULL,
  queue TEXT,
  state TEXT NOT NULL,
  created TEXT NOT NULL,
  finished TEXT,
  auto INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pipeline_cells (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL,
  scan TEXT NOT NULL,
  step TEXT NOT NULL,
  state TEXT NOT NULL,
  job_id TEXT,
  message TEXT,
  updated TEXT NOT NULL,
  submitted TEXT,
  started TEXT,
  UNIQUE (run_id, scan, step)
);
CREATE INDEX IF NOT EXISTS pipeline_runs_experiment ON pipeline_runs(experiment);
CREATE INDEX IF NOT EXISTS pipeline_runs_state ON pipeline_runs(state);
CREATE INDEX IF NOT EXISTS pipeline_cells_job ON pipeline_cells(job_id);
CREATE TABLE IF NOT EXISTS pipeline_events (
  run_id TEXT NOT NULL,
  event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pipeline_events_run ON pipeline_events(run_id);
CREATE TABLE IF NOT EXISTS pipeline_watch (
  experiment TEXT PRIMARY KEY,
  setting TEXT NOT NULL
);
`;

interface RunRow {
  id: string;
  experiment: string;
  pipeline: string;
  definition: string;
  scans: string;
  steps: string;
  site: string;
  queue: string | null;
  state: string;
  created: string;
  finished: string | null;
  auto: number;
}

interface CellRow {
  run_id: string;
  scan: string;
  step: string;
  state: string;
  job_id: string | null;
  message: string | null;
  updated: string;
  submitted: string | null;
  started: string | null;
}

const FILTER_STATES: Record<RunFilter, RunState[]> = {
  active: ['running'],
  waiting: ['queued'],
  failed: ['failed', 'canceled'],
  completed: ['done']
};

function runFromRow(row: RunRow): RunRecord {
  return {
    id: row.id,
    experiment: row.experiment,
    pipeline: row.pipeline,
    definition: JSON.parse(row.definition) as PipelineDefinition,
    scans: JSON.parse(row.scans) as string[],
    steps: JSON.parse(row.steps) as string[],
    site: row.site,
    queue: row.queue ?? undefined,
    state: row.state as RunState,
    created: row.created,
    finished: row.finished ?? undefined,
    auto: row.auto === 1
  };
}

function cellFromRow(row: CellRow): RunCell {
  return {
    runId: row.run_id,
    scan: row.scan,
    step: row.step,
    state: row.state as CellState,
    jobId: row.job_id ?? undefined,
    message: row.message ?? undefined,
    updated: row.updated,
    submitted: row.submitted ?? undefined,
    started: row.started ?? undefined
  };
}

function cellParams(cell: RunCell): Record<string, string | null> {
  return {
    run_id: cell.runId,
    scan: cell.scan,
    step: cell.step,
    state: cell.state,
    job_id: cell.jobId ?? null,
    message: cell.message ?? null,
    updated: cell.updated,
    submitted: cell.submitted ?? null,
    started: cell.started ?? null
  };
}

export const toCell = (cell: RunCell): Cell => ({
  state: cell.state,
  runId: cell.runId,
  jobId: cell.jobId,
  updated: cell.updated,
  message: cell.message
});

export class PipelineStore {
  private readonly db: Database.Database;

  constructor(options: StoreOptions) {
    this.db = openStateDatabase(options, SCHEMA);
  }

  /** A new run with all of its cells, in one transaction. */
  insertRun(run: RunRecord, cells: RunCell[]): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO pipeline_runs (id, experiment, pipeline, definition, scans, steps, site, queue, state, created, finished, auto)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
        )
        .run(
          run.id,
          run.experiment,
          run.pipeline,
          JSON.stringify(run.definition),
          JSON.stringify(run.scans),
          JSON.stringify(run.steps),
          run.site,
          run.queue ?? null,
          run.state,
          run.created,
          run.finished ?? null,
          run.auto ? 1 : 0
        );
      for (const cell of cells) {
        this.insertCell(cell);
      }
    })();
  }

  private insertCell(cell: RunCell): void {
    this.db
      .prepare(
        `INSERT INTO pipeline_cells (run_id, scan, step, state, job_id, message, updated, submitted, started)
         VALUES (@run_id, @scan, @step, @state, @job_id, @message, @updated, @submitted, @started)`
      )
      .run(cellParams(cell));
  }

  saveRunState(id: string, state: RunState, finished: string | undefined): void {
    this.db
      .prepare('UPDATE pipeline_runs SET state = ?, finished = ? WHERE id = ?')
      .run(state, finished ?? null, id);
  }

  /** Saves a cell, with an event for its run in the same transaction. */
  saveCell(cell: RunCell, event?: RunEvent): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE pipeline_cells SET state = @state, job_id = @job_id, message = @message,
             updated = @updated, submitted = @submitted, started = @started
           WHERE run_id = @run_id AND scan = @scan AND step = @step`
        )
        .run(cellParams(cell));
      if (event) {
        this.addEvent(cell.runId, event);
      }
    })();
  }

  addEvent(runId: string, event: RunEvent): void {
    this.db
      .prepare('INSERT INTO pipeline_events (run_id, event) VALUES (?, ?)')
      .run(runId, JSON.stringify(event));
  }

  getRun(id: string): RunRecord | undefined {
    const row = this.db.prepare('SELECT * FROM pipeline_runs WHERE id = ?').get(id) as
      RunRow | undefined;
    return row ? runFromRow(row) : undefined;
  }

  listRuns(filter?: RunFilter): RunRecord[] {
    const rows = filter
      ? (this.db
          .prepare(
            `SELECT * FROM pipeline_runs WHERE state IN (${FILTER_STATES[filter].map(() => '?').join(', ')}) ORDER BY seq DESC`
          )
          .all(...FILTER_STATES[filter]) as RunRow[])
      : (this.db.prepare('SELECT * FROM pipeline_runs ORDER BY seq DESC').all() as RunRow[]);
    return rows.map(runFromRow);
  }

  unfinishedRuns(): RunRecord[] {
    return this.listRuns('active').concat(this.listRuns('waiting'));
  }

  cellsOfRun(runId: string): RunCell[] {
    const rows = this.db
      .prepare('SELECT * FROM pipeline_cells WHERE run_id = ? ORDER BY seq')
      .all(runId) as CellRow[];
    return rows.map(cellFromRow);
  }

  cellsOfScan(runId: string, scan: string): RunCell[] {
    const rows = this.db
      .prepare('SELECT * FROM pipeline_cells WHERE run_id = ? AND scan = ? ORDER BY seq')
      .all(runId, scan) as CellRow[];
    return rows.map(cellFromRow);
  }

  cellOfJob(jobId: string): RunCell | undefined {
    const row = this.db.prepare('SELECT * FROM pipeline_cells WHERE job_id = ?').get(jobId) as
      CellRow | undefined;
    return row ? cellFromRow(row) : undefined;
  }

  /** The latest cell of every (scan, step) of an experiment, over all of its runs. */
  latestCells(experiment: string): RunCell[] {
    const rows = this.db
      .prepare(
        `SELECT c.* FROM pipeline_cells c JOIN pipeline_runs r ON r.id = c.run_id
         WHERE r.experiment = ? ORDER BY r.seq, c.seq`
      )
      .all(experiment) as CellRow[];
    const latest = new Map<string, RunCell>();
    for (const row of rows) {
      latest.set(`${row.scan}\u0000${row.step}`, cellFromRow(row));
    }
    return [...latest.values()];
  }

  events(runId: string): RunEvent[] {
    const rows = this.db
      .prepare('SELECT event FROM pipeline_events WHERE run_id = ? ORDER BY rowid')
      .all(runId) as { event: string }[];
    return rows.map(r => JSON.parse(r.event) as RunEvent);
  }

  view(run: RunRecord): RunView {
    return {
      id: run.id,
      experiment: run.experiment,
      pipeline: run.pipeline,
      scans: run.scans,
      steps: run.steps,
      site: run.site,
      queue: run.queue,
      state: run.state,
      created: run.created,
      finished: run.finished,
      auto: run.auto,
      events: this.events(run.id)
    };
  }

  getWatch(experiment: string): WatchSetting | undefined {
    const row = this.db
      .prepare('SELECT setting FROM pipeline_watch WHERE experiment = ?')
      .get(experiment) as { setting: string } | undefined;
    return row ? (JSON.parse(row.setting) as WatchSetting) : undefined;
  }

  watches(): WatchSetting[] {
    const rows = this.db.prepare('SELECT setting FROM pipeline_watch').all() as {
      setting: string;
    }[];
    return rows.map(r => JSON.parse(r.setting) as WatchSetting);
  }

  saveWatch(setting: WatchSetting): void {
    this.db
      .prepare(
        'INSERT INTO pipeline_watch (experiment, setting) VALUES (?, ?) ON CONFLICT(experiment) DO UPDATE SET setting = excluded.setting'
      )
      .run(setting.experiment, JSON.stringify(setting));
  }

  close(): void {
    this.db.close();
  }
}
