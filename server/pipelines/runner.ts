import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { JobSpec, JobState, JobView } from '../../src/protocol/jobs.js';
import type {
  CellState,
  PipelineDefinition,
  PipelineEvent,
  RunEvent,
  RunFilter,
  RunRequest,
  RunState,
  RunView,
  StepDefinition
} from '../../src/protocol/pipelines.js';
import { readLastBytes } from '../jobs/log-bytes.js';
import type { JobManager } from '../jobs/manager.js';
import { JobConflictError, JobNotFoundError } from '../jobs/manager.js';
import type { Sites } from '../jobs/sites.js';
import { queueOf } from '../jobs/sites.js';
import { DEFAULT_PIPELINE, isEnabled, stepOrder, type PipelineDefinitions } from './definitions.js';
import { listScans, resolveExperiment } from './experiments.js';
import type { PipelineStore, RunCell, RunRecord } from './pipeline-store.js';
import { toCell } from './pipeline-store.js';

// The pipeline runner: a run is scans × steps; each cell is one job of the job manager. Steps of
// one scan are chained with afterOk so the scheduler runs them in order without the server;
// a step on another site than its dependency waits here until the dependency is done (the
// scheduler cannot chain across sites). Cell states follow their jobs' events, and are
// re-derived from the jobs after a restart.

/** The request cannot be run as asked (unknown scan, step or site). */
export class RunRequestError extends Error {}
export class RunNotFoundError extends Error {}
export class RunConflictError extends Error {}

/** Programs shipped in the bundle folder: `<name>` runs as `node <bundleDir>/<name>.mjs`. */
export const BUNDLED_PROGRAMS = ['nexus-reduce', 'nexus-transform'];

/** Marks a job as a cell's, so that a job submitted just before a crash is adopted, not doubled. */
const CELL_ENV = 'NEXUS_PIPELINE_CELL';
/** Last lines of a failed step's stderr kept as the cell's message. */
const STDERR_LINES = 5;
const STDERR_BYTES = 8192;

export interface RunnerOptions {
  store: PipelineStore;
  manager: JobManager;
  sites: Sites;
  definitions: PipelineDefinitions;
  /** the Jupyter root: experiment paths are relative to it */
  root: string;
  /** folder of nexus-reduce.mjs and nexus-transform.mjs */
  bundleDir: string;
  /** the node that runs bundled programs (default: this one) */
  nodePath?: string;
}

const now = (): string => new Date().toISOString();

const CELL_STATE: Record<JobState, CellState> = {
  NEW: 'queued',
  QUEUED: 'queued',
  ACTIVE: 'running',
  COMPLETED: 'done',
  FAILED: 'failed',
  CANCELED: 'canceled'
};

const isFinalCell = (state: CellState): boolean =>
  state === 'done' || state === 'failed' || state === 'canceled';

export class PipelineRunner extends EventEmitter {
  private readonly store: PipelineStore;
  private readonly manager: JobManager;
  private readonly sites: Sites;
  private readonly definitions: PipelineDefinitions;
  private readonly root: string;
  private readonly bundleDir: string;
  private readonly nodePath: string;
  private readonly onJob = (job: JobView) => this.report(() => this.applyJob(job));

  constructor(options: RunnerOptions) {
    super();
    this.store = options.store;
    this.manager = options.manager;
    this.sites = options.sites;
    this.definitions = options.definitions;
    this.root = options.root;
    this.bundleDir = options.bundleDir;
    this.nodePath = options.nodePath ?? process.execPath;
    this.manager.on('job', this.onJob);
  }

  /** After the job manager's own recovery: brings every unfinished run up to date with its jobs. */
  start(): void {
    const runs = this.store.unfinishedRuns();
    // Jobs submitted for a cell by a server that died before recording them: adopted, not doubled.
    const orphans = new Map<string, string>();
    if (runs.length > 0) {
      for (const job of this.manager.list()) {
        const marker = job.spec.environment?.[CELL_ENV];
        if (marker && !this.store.cellOfJob(job.id)) {
          orphans.set(marker, job.id);
        }
      }
    }
    for (const run of runs) {
      // One run that cannot be recovered (e.g. its experiment folder is gone) spoils no other.
      this.report(() => this.recover(run.id, orphans));
    }
  }

  private recover(runId: string, orphans: Map<string, string>): void {
    for (const cell of this.store.cellsOfRun(runId)) {
      if (cell.jobId && !isFinalCell(cell.state)) {
        let job: JobView | undefined;
        try {
          job = this.manager.get(cell.jobId);
        } catch (err) {
          if (!(err instanceof JobNotFoundError)) {
            throw err;
          }
        }
        if (job) {
          this.applyJob(job);
        } else {
          this.finishCell(cell, 'failed', `job ${cell.jobId} is unknown to the job layer`);
        }
      }
    }
    this.submitReady(runId, undefined, orphans);
    this.updateRun(runId);
  }

  close(): void {
    this.manager.off('job', this.onJob);
  }

  startRun(request: RunRequest, auto = false): RunView {
    const definition = this.definitions.get(request.pipeline ?? DEFAULT_PIPELINE);
    const experiment = resolveExperiment(this.root, request.experiment);
    const available = listScans(experiment.dir);
    const scans = request.scans ?? available;
    const unknownScan = scans.find(s => !available.includes(s));
    if (unknownScan !== undefined) {
      throw new RunRequestError(
        `${unknownScan} is not a scan of ${request.experiment} (a scan is a folder with scan.json)`
      );
    }
    if (scans.length === 0) {
      throw new RunRequestError(`${request.experiment} has no scans to run`);
    }
    const ordered = stepOrder(definition.steps).filter(isEnabled);
    for (const id of request.steps ?? []) {
      if (!ordered.some(s => s.id === id)) {
        throw new RunRequestError(
          `step ${id} is not an enabled step of pipeline ${definition.name}`
        );
      }
    }
    const steps = ordered.filter(s => !request.steps || request.steps.includes(s.id));
    if (steps.length === 0) {
      throw new RunRequestError('the run has no steps');
    }
    const site = request.site ?? this.sites.value.sites[0].name;
    for (const name of [site, ...steps.map(s => s.site).filter(s => s !== undefined)]) {
      if (!this.sites.get(name)) {
        throw new RunRequestError(`unknown site ${name}`);
      }
    }
    const created = now();
    const run: RunRecord = {
      id: randomUUID(),
      experiment: experiment.relative,
      pipeline: definition.name,
      definition,
      scans: [...new Set(scans)],
      steps: steps.map(s => s.id),
      site,
      queue: request.queue,
      state: 'queued',
      created,
      auto
    };
    const cells: RunCell[] = run.scans.flatMap(scan =>
      run.steps.map(step => ({ runId: run.id, scan, step, state: 'queued', updated: created }))
    );
    // Every cell is on disk before the first job exists: a crash from here on is recovered.
    this.store.insertRun(run, cells);
    for (const cell of cells) {
      this.emitCell(run, cell);
    }
    this.emitRun(run.id);
    this.submitReady(run.id);
    return this.view(run.id);
  }

  view(id: string): RunView {
    return this.store.view(this.record(id));
  }

  list(filter?: RunFilter): RunView[] {
    return this.store.listRuns(filter).map(run => this.store.view(run));
  }

  /** Cancels every unfinished cell of the run; the CANCELED states come from the jobs. */
  async cancel(id: string): Promise<RunView> {
    const run = this.record(id);
    if (isFinalRun(run.state)) {
      throw new RunConflictError(`run ${id} is already ${run.state}`);
    }
    for (const cell of this.store.cellsOfRun(id)) {
      if (isFinalCell(cell.state)) {
        continue;
      }
      if (!cell.jobId) {
        this.finishCell(cell, 'canceled', 'cancelled before submission');
        continue;
      }
      try {
        await this.manager.cancel(cell.jobId);
      } catch (err) {
        if (!(err instanceof JobConflictError)) {
          throw err;
        }
      }
    }
    this.updateRun(id);
    return this.view(id);
  }

  /**
   * Runs the failed and cancelled cells of a finished run again (or one cell, with its failed
   * dependants), with new jobs after the cells that are done.
   */
  retry(id: string, only?: { scan: string; step: string }): RunView {
    const run = this.record(id);
    const cells = this.store.cellsOfRun(id);
    if (cells.some(c => !isFinalCell(c.state))) {
      throw new RunConflictError(`run ${id} is still ${run.state}; retry it once it has ended`);
    }
    let chosen = cells.filter(c => c.state === 'failed' || c.state === 'canceled');
    if (only) {
      const target = cells.find(c => c.scan === only.scan && c.step === only.step);
      if (!target) {
        throw new RunRequestError(`run ${id} has no cell ${only.scan}/${only.step}`);
      }
      const dependants = this.dependantsOf(run, only.step);
      chosen = [target, ...chosen.filter(c => c.scan === only.scan && dependants.includes(c.step))];
    }
    if (chosen.length === 0) {
      throw new RunConflictError(`run ${id} has no failed or cancelled cell to retry`);
    }
    const time = now();
    for (const cell of chosen) {
      const fresh: RunCell = { ...cell, state: 'queued', updated: time };
      delete fresh.jobId;
      delete fresh.message;
      delete fresh.submitted;
      delete fresh.started;
      this.store.saveCell(fresh, {
        time,
        scan: cell.scan,
        step: cell.step,
        kind: 'retried',
        jobId: cell.jobId
      });
      this.emitCell(run, fresh);
    }
    this.store.saveRunState(id, 'queued', undefined);
    this.emitRun(id);
    this.submitReady(id);
    return this.view(id);
  }

  // --- submission -------------------------------------------------------------------------

  /**
   * Submits every queued cell without a job whose dependencies allow it: done, or submitted on
   * the same site (then afterOk). A cell after a failed or cancelled one is cancelled.
   */
  private submitReady(runId: string, scans?: string[], orphans?: Map<string, string>): void {
    const run = this.record(runId);
    const byStep = new Map(run.definition.steps.map(s => [s.id, s]));
    for (const scan of scans ?? run.scans) {
      for (const stepId of run.steps) {
        // Read again for every step: submitting the previous one may have changed cells.
        const cells = this.store.cellsOfScan(runId, scan);
        const cell = cells.find(c => c.step === stepId)!;
        if (cell.state !== 'queued' || cell.jobId) {
          continue;
        }
        const step = byStep.get(stepId)!;
        const site = step.site ?? run.site;
        const deps = this.runDependencies(run, stepId).map(d => cells.find(c => c.step === d)!);
        const broken = deps.find(d => d.state === 'failed' || d.state === 'canceled');
        if (broken) {
          this.finishCell(cell, 'canceled', `not run: ${broken.step} ${broken.state}`);
          continue;
        }
        const waiting = deps.filter(d => d.state !== 'done');
        if (waiting.some(d => !d.jobId || this.siteOfCell(run, d) !== site)) {
          continue;
        }
        const orphan = orphans?.get(`${run.id}/${scan}/${stepId}`);
        this.submitCell(
          run,
          step,
          cell,
          site,
          waiting.map(d => d.jobId!),
          orphan
        );
      }
    }
  }

  private submitCell(
    run: RunRecord,
    step: StepDefinition,
    cell: RunCell,
    site: string,
    afterOk: string[],
    orphan?: string
  ): void {
    let job: JobView;
    try {
      job = orphan
        ? this.manager.get(orphan)
        : this.manager.submit(this.jobSpec(run, step, cell.scan, afterOk), site);
    } catch (err) {
      this.finishCell(
        cell,
        'failed',
        `submission refused: ${err instanceof Error ? err.message : String(err)}`
      );
      return;
    }
    const submitted: RunCell = { ...cell, jobId: job.id, submitted: now(), updated: now() };
    this.store.saveCell(submitted);
    this.emitCell(run, submitted);
    this.applyJob(this.manager.get(job.id));
  }

  /** The job of one cell: the step's command with its template variables and params. */
  jobSpec(run: RunRecord, step: StepDefinition, scan: string, afterOk: string[]): JobSpec {
    const experiment = resolveExperiment(this.root, run.experiment);
    const scanDir = path.join(experiment.dir, scan);
    const variables: Record<string, string> = {
      scan: scanDir,
      scanName: scan,
      experiment: experiment.dir,
      tasks: String(tasksOf(run.definition, step))
    };
    const words = step.command.map(word =>
      word.replace(/\{(scan|scanName|experiment|tasks)\}/g, (_m, name: string) => variables[name])
    );
    const params = Object.entries(step.params ?? {}).flatMap(([name, value]) => [
      `--${name}`,
      String(value)
    ]);
    const [program, ...args] = words;
    const command = BUNDLED_PROGRAMS.includes(program)
      ? [this.nodePath, path.join(this.bundleDir, `${program}.mjs`), ...args, ...params]
      : [program, ...args, ...params];
    const queue = step.queue ?? run.queue;
    const site = this.sites.get(step.site ?? run.site);
    // A queue with a time limit refuses jobs without one: a step without its own gets the limit.
    const durationSeconds =
      step.durationSeconds ??
      (site ? queueOf({ command, attributes: { queue } }, site)?.maxDurationSeconds : undefined);
    const attributes = {
      ...(queue ? { queue } : {}),
      ...(durationSeconds ? { durationSeconds } : {})
    };
    return {
      name: `${step.id}-${scan}`.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100),
      command,
      directory: scanDir,
      environment: { [CELL_ENV]: `${run.id}/${scan}/${step.id}` },
      ...(step.array ? { arrayTasks: step.array.tasks } : {}),
      ...(Object.keys(attributes).length > 0 ? { attributes } : {}),
      ...(afterOk.length > 0 ? { afterOk } : {})
    };
  }

  /** The run's steps that `stepId` waits for: its `after`, looking through steps not in the run. */
  private runDependencies(run: RunRecord, stepId: string): string[] {
    const byStep = new Map(run.definition.steps.map(s => [s.id, s]));
    const found = new Set<string>();
    const visit = (id: string) => {
      for (const dep of byStep.get(id)?.after ?? []) {
        if (run.steps.includes(dep)) {
          found.add(dep);
        } else {
          visit(dep);
        }
      }
    };
    visit(stepId);
    return [...found];
  }

  private dependantsOf(run: RunRecord, stepId: string): string[] {
    return run.steps.filter(
      s => s !== stepId && this.transitiveDependencies(run, s).includes(stepId)
    );
  }

  private transitiveDependencies(run: RunRecord, stepId: string): string[] {
    const direct = this.runDependencies(run, stepId);
    return [...new Set([...direct, ...direct.flatMap(d => this.transitiveDependencies(run, d))])];
  }

  private siteOfCell(run: RunRecord, cell: RunCell): string {
    return run.definition.steps.find(s => s.id === cell.step)?.site ?? run.site;
  }

  // --- state ------------------------------------------------------------------------------

  private applyJob(job: JobView): void {
    const cell = this.store.cellOfJob(job.id);
    if (!cell || isFinalCell(cell.state)) {
      return;
    }
    const state = CELL_STATE[job.status.state];
    if (state === cell.state) {
      return;
    }
    const run = this.record(cell.runId);
    if (state === 'running') {
      const started = job.status.time;
      const next: RunCell = { ...cell, state, started, updated: now() };
      this.store.saveCell(next, {
        time: started,
        scan: cell.scan,
        step: cell.step,
        kind: 'started',
        jobId: job.id
      });
      this.emitCell(run, next);
      this.updateRun(run.id);
      return;
    }
    if (state === 'queued') {
      return;
    }
    const message = state === 'failed' ? this.failureOf(job) : job.status.message;
    const active = job.history.find(s => s.state === 'ACTIVE');
    this.finishCell({ ...cell, started: cell.started ?? active?.time }, state, message);
    if (state !== 'done') {
      this.cancelDependants(run, cell);
    }
    // Only this scan's cells can have been waiting for this one.
    this.submitReady(run.id, [cell.scan]);
  }

  /** Ends a cell with its event (and duration), then brings its run up to date. */
  private finishCell(cell: RunCell, state: CellState, message: string | undefined): void {
    const time = now();
    const since = cell.started ?? cell.submitted;
    const next: RunCell = { ...cell, state, message, updated: time };
    const kind: RunEvent['kind'] =
      state === 'done' ? 'completed' : state === 'failed' ? 'failed' : 'canceled';
    this.store.saveCell(next, {
      time,
      scan: cell.scan,
      step: cell.step,
      kind,
      ...(since ? { durationMs: Date.parse(time) - Date.parse(since) } : {}),
      ...(cell.jobId ? { jobId: cell.jobId } : {}),
      ...(message ? { message } : {})
    });
    const run = this.record(cell.runId);
    this.emitCell(run, next);
    this.updateRun(run.id);
  }

  /** A scheduler may hold a job whose dependency failed forever (Slurm): cancel it. */
  private cancelDependants(run: RunRecord, cell: RunCell): void {
    const dependants = this.dependantsOf(run, cell.step);
    for (const other of this.store.cellsOfRun(run.id)) {
      if (
        other.scan === cell.scan &&
        dependants.includes(other.step) &&
        other.jobId &&
        !isFinalCell(other.state)
      ) {
        this.manager.cancel(other.jobId).catch(() => undefined);
      }
    }
  }

  /** The last lines of the failed job's stderr (every failed array task's), else its message. */
  private failureOf(job: JobView): string | undefined {
    const tasks = job.spec.arrayTasks;
    const files =
      tasks === undefined
        ? [this.manager.logFile(job.id, 'stderr')]
        : Array.from({ length: tasks }, (_v, i) => this.manager.logFile(job.id, 'stderr', i));
    const lines = files.flatMap(file => tailLines(file));
    const text = lines.slice(-STDERR_LINES).join('\n');
    return text || job.status.message;
  }

  private updateRun(id: string): void {
    const run = this.record(id);
    const cells = this.store.cellsOfRun(id);
    const state = runStateOf(cells.map(c => c.state));
    if (state === run.state) {
      return;
    }
    this.store.saveRunState(id, state, isFinalRun(state) ? now() : undefined);
    this.emitRun(id);
  }

  private record(id: string): RunRecord {
    const run = this.store.getRun(id);
    if (!run) {
      throw new RunNotFoundError(`no pipeline run ${id}`);
    }
    return run;
  }

  private emitCell(run: RunRecord, cell: RunCell): void {
    this.emitMessage({
      type: 'pipeline-cell',
      experiment: run.experiment,
      scan: cell.scan,
      step: cell.step,
      cell: toCell(cell)
    });
  }

  private emitRun(id: string): void {
    this.emitMessage({ type: 'run', run: this.view(id) });
  }

  emitMessage(message: PipelineEvent): void {
    this.emit('message', message);
  }

  /** Job events arrive from the manager; a failure here is reported, never thrown into it. */
  private report(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      process.stderr.write(
        `nexus-server: pipeline runner: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`
      );
    }
  }
}

const isFinalRun = (state: RunState): boolean =>
  state === 'done' || state === 'failed' || state === 'canceled';

export function runStateOf(states: CellState[]): RunState {
  if (states.some(s => !isFinalCell(s))) {
    return states.some(s => s !== 'queued') ? 'running' : 'queued';
  }
  if (states.includes('failed')) {
    return 'failed';
  }
  return states.includes('canceled') ? 'canceled' : 'done';
}

/** {tasks}: the step's own array size, else that of an array step it follows (a merge), else 1. */
export function tasksOf(definition: PipelineDefinition, step: StepDefinition): number {
  if (step.array) {
    return step.array.tasks;
  }
  const before = definition.steps.filter(s => step.after?.includes(s.id) && s.array);
  return Math.max(1, ...before.map(s => s.array!.tasks));
}

function tailLines(file: string | undefined): string[] {
  return readLastBytes(file, STDERR_BYTES)
    .bytes.toString('utf8')
    .split('\n')
    .filter(l => l.trim() !== '');
}
