// Wire types of the pipeline runner (server/pipelines/), shared by the server and the pipeline
// sidebar (src/pipelines/). A run is scans × enabled steps; each (scan, step) is a cell whose
// state follows the job that runs it. Messages travel on the job layer's /events WebSocket.

export interface StepArray {
  /** number of array tasks; each sees NEXUS_TASK_INDEX and `{tasks}` in its command */
  tasks: number;
}

export interface StepDefinition {
  /** unique within the pipeline; a column of the grid and a name in `after` */
  id: string;
  label: string;
  /**
   * executable and arguments, no shell. Template variables: {scan} (absolute scan folder),
   * {scanName}, {experiment} (absolute experiment folder), {tasks}. A first word
   * "nexus-reduce" or "nexus-transform" is the bundled program of that name.
   */
  command: string[];
  /** appended to the command as `--<name> <value>` */
  params?: Record<string, string | number | boolean>;
  /** ids of the steps (of the same scan) that must complete first */
  after?: string[];
  /** a disabled step is not run and does not hold back the steps after it */
  enabled?: boolean;
  array?: StepArray;
  /** overrides of the run's site and queue for this step */
  site?: string;
  queue?: string;
  /** wall-clock limit of the step's job; default: the queue's maximum, if it has one */
  durationSeconds?: number;
}

export interface PipelineDefinition {
  name: string;
  version: 1;
  description?: string;
  steps: StepDefinition[];
}

/** A definition as listed: `builtin` ones are shipped; saving one under its name overrides it. */
export interface PipelineSummary {
  name: string;
  builtin: boolean;
  /** true when a user definition replaces the built-in one of the same name */
  overridden: boolean;
}

export type CellState = 'not-started' | 'queued' | 'running' | 'done' | 'failed' | 'canceled';

export interface Cell {
  state: CellState;
  runId?: string;
  jobId?: string;
  /** ISO 8601 */
  updated: string;
  /** why it failed or was cancelled (the job's message) */
  message?: string;
}

export interface ScanRow {
  /** scan folder name inside the experiment */
  scan: string;
  cells: Record<string, Cell>;
}

export interface GridView {
  /** experiment folder relative to the Jupyter root */
  experiment: string;
  pipeline: string;
  /** step columns in pipeline order (disabled steps included, flagged in `steps`) */
  steps: StepDefinition[];
  rows: ScanRow[];
  watch: WatchSetting;
}

export type RunState = 'queued' | 'running' | 'done' | 'failed' | 'canceled';

export type RunEventKind = 'started' | 'completed' | 'failed' | 'canceled' | 'retried';

export interface RunEvent {
  /** ISO 8601 */
  time: string;
  scan: string;
  step: string;
  kind: RunEventKind;
  /** on completed/failed/canceled: from the step's start (or submission) to its end */
  durationMs?: number;
  jobId?: string;
  message?: string;
}

export interface RunView {
  id: string;
  /** relative to the Jupyter root */
  experiment: string;
  pipeline: string;
  scans: string[];
  /** step ids in the run, pipeline order */
  steps: string[];
  site: string;
  queue?: string;
  state: RunState;
  /** ISO 8601 */
  created: string;
  finished?: string;
  /** true when the folder watcher started it */
  auto?: boolean;
  events: RunEvent[];
}

export type RunFilter = 'active' | 'waiting' | 'failed' | 'completed';

/** POST /pipelines/runs */
export interface RunRequest {
  experiment: string;
  /** scan folder names; default: every scan of the experiment */
  scans?: string[];
  /** step ids; default: every enabled step */
  steps?: string[];
  /** default: the first configured site */
  site?: string;
  queue?: string;
  /** definition name; default "nxrefine" */
  pipeline?: string;
}

/** GET/PUT /pipelines/watch */
export interface WatchSetting {
  experiment: string;
  autoRun: boolean;
  /** pipeline and place used by auto-runs */
  pipeline?: string;
  site?: string;
  queue?: string;
}

/** POST /pipelines/notebook: a run, or the latest cells of one scan */
export type NotebookRequest = { runId: string } | { experiment: string; scan: string };

export interface NotebookResult {
  /** relative to the Jupyter root */
  path: string;
}

/** Messages pushed over the WebSocket `/events` (beside the job layer's JobEvent). */
export type PipelineEvent =
  | { type: 'pipeline-cell'; experiment: string; scan: string; step: string; cell: Cell }
  | { type: 'run'; run: RunView };
