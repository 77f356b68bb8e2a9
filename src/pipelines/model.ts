import { VDomModel } from '@jupyterlab/ui-components';

import type { ServerEvent, EventsSocket } from '../jobs/eventsSocket';
import type { Cell, GridView, RunFilter, RunView } from '../protocol/pipelines';
import type { IPipelineSettings } from '../tokens';
import type { ISiteChoice, LogStream, PipelinesApi } from './api';
import { EMPTY_SELECTION, selectAll, type IGridSelection } from './selection';

/** The step whose output opens in the NeXus panel, and that output (the merged volume). */
export const RESULT_STEP = 'combine';
export const RESULT_FILE = 'nexus/transform.nxs';

export type RunListFilter = RunFilter | 'all';

/** The stdout or stderr shown for one step's job. */
export interface IStepLog {
  jobId: string;
  scan: string;
  step: string;
  stream: LogStream;
  text: string | null;
}

export interface IPipelineModelOptions {
  api: PipelinesApi;
  events: EventsSocket;
  /** read at each use, so setting changes apply at once */
  settings: () => IPipelineSettings;
}

/**
 * State of the pipeline sidebar: the experiment's grid, the selection, the run list and the run
 * and log being looked at. Server pushes (/events) keep it current; it never polls.
 */
export class PipelineModel extends VDomModel {
  constructor(options: IPipelineModelOptions) {
    super();
    this._api = options.api;
    this._events = options.events;
    this._settings = options.settings;
    this._events.message.connect(this._onEvent, this);
    // Pushes sent while the socket was down are lost: re-read everything on each connection.
    this._events.connectionChanged.connect(this._onConnection, this);
    void this.reload();
  }

  get experiment(): string | null {
    return this._grid?.experiment ?? this._experiment;
  }
  get grid(): GridView | null {
    return this._grid;
  }
  get selection(): IGridSelection {
    return this._selection;
  }
  get sites(): ISiteChoice[] {
    return this._sites;
  }
  get site(): string {
    return this._site;
  }
  get queue(): string {
    return this._queue;
  }
  get runs(): RunView[] {
    return this._runs;
  }
  get runFilter(): RunListFilter {
    return this._runFilter;
  }
  get openRun(): RunView | null {
    return this._runs.find(run => run.id === this._openRunId) ?? this._openRunFallback;
  }
  get log(): IStepLog | null {
    return this._log;
  }
  get error(): string | null {
    return this._error;
  }
  get connected(): boolean {
    return this._events.isConnected;
  }

  /** Step ids that can run (enabled), in pipeline order. */
  get runnableSteps(): string[] {
    return (this._grid?.steps ?? []).filter(step => step.enabled !== false).map(s => s.id);
  }

  get scanNames(): string[] {
    return (this._grid?.rows ?? []).map(row => row.scan);
  }

  async setExperiment(experiment: string): Promise<void> {
    this._experiment = experiment.replace(/^\/+|\/+$/g, '');
    this._grid = null;
    this._selection = EMPTY_SELECTION;
    this._log = null;
    this.stateChanged.emit();
    await this._loadGrid();
    const grid = this._grid as GridView | null;
    if (grid && this._settings().autoRun && !grid.watch.autoRun) {
      await this.setAutoRun(true);
    }
  }

  /** Re-reads sites, the grid and the run list. */
  async reload(): Promise<void> {
    await Promise.all([this._loadSites(), this._loadGrid(), this._loadRuns()]);
  }

  setSelection(selection: IGridSelection): void {
    this._selection = selection;
    const { scans, steps } = selection;
    if (scans.length === 1 && steps.length === 1) {
      // One cell: its job's output, or none if it never ran.
      const cell = this.cell(scans[0], steps[0]);
      if (cell?.jobId) {
        void this.showLog(cell.jobId, scans[0], steps[0], this._log?.stream ?? 'stderr');
      } else {
        this._log = null;
      }
    }
    this.stateChanged.emit();
  }

  selectAll(): void {
    this.setSelection(selectAll(this.scanNames, this.runnableSteps));
  }

  cell(scan: string, step: string): Cell | undefined {
    return this._grid?.rows.find(row => row.scan === scan)?.cells[step];
  }

  setSite(site: string): void {
    this._site = site;
    this._queue = this._defaultQueue(site);
    this.stateChanged.emit();
  }

  setQueue(queue: string): void {
    this._queue = queue;
    this.stateChanged.emit();
  }

  async setRunFilter(filter: RunListFilter): Promise<void> {
    this._runFilter = filter;
    this.stateChanged.emit();
    await this._loadRuns();
  }

  /** Runs the selected steps of the selected scans on the chosen site and queue. */
  async run(): Promise<RunView | null> {
    const grid = this._grid;
    if (!grid || !this._selection.scans.length || !this._selection.steps.length) {
      return null;
    }
    return this._guard(async () => {
      const run = await this._api.startRun({
        experiment: grid.experiment,
        pipeline: grid.pipeline,
        scans: this._selection.scans,
        steps: this._selection.steps,
        site: this._site || undefined,
        queue: this._queue || undefined
      });
      this._upsertRun(run);
      this._openRunId = run.id;
      return run;
    });
  }

  async openRunDetail(id: string | null): Promise<void> {
    this._openRunId = id;
    this._openRunFallback = null;
    this.stateChanged.emit();
    if (id && !this._runs.some(run => run.id === id)) {
      await this._guard(async () => {
        this._openRunFallback = await this._api.run(id);
      });
    }
  }

  async cancelRun(id: string): Promise<void> {
    await this._guard(async () => this._upsertRun(await this._api.cancelRun(id)));
  }

  async retryRun(id: string): Promise<void> {
    await this._guard(async () => this._upsertRun(await this._api.retryRun(id)));
  }

  /** Writes the run's notebook; resolves with its path relative to the Jupyter root. */
  async exportNotebook(runId: string): Promise<string | null> {
    return this._guard(async () => (await this._api.exportNotebook({ runId })).path);
  }

  async setAutoRun(autoRun: boolean): Promise<void> {
    const grid = this._grid;
    if (!grid) {
      return;
    }
    await this._guard(async () => {
      const watch = await this._api.setWatch({
        ...grid.watch,
        experiment: grid.experiment,
        autoRun,
        pipeline: grid.pipeline,
        site: this._site || undefined,
        queue: this._queue || undefined
      });
      if (this._grid === grid) {
        this._grid = { ...grid, watch };
      }
    });
  }

  async showLog(jobId: string, scan: string, step: string, stream: LogStream): Promise<void> {
    this._log = {
      jobId,
      scan,
      step,
      stream,
      text: this._log?.jobId === jobId ? this._log.text : null
    };
    this.stateChanged.emit();
    await this._refreshLog();
  }

  closeLog(): void {
    this._log = null;
    this.stateChanged.emit();
  }

  dismissError(): void {
    this._error = null;
    this.stateChanged.emit();
  }

  private async _refreshLog(): Promise<void> {
    const log = this._log;
    if (!log) {
      return;
    }
    try {
      const text = await this._api.logs(log.jobId, log.stream);
      if (this._log === log) {
        this._log = { ...log, text };
      }
    } catch (reason) {
      if (this._log === log) {
        this._log = { ...log, text: (reason as Error).message };
      }
    }
    this.stateChanged.emit();
  }

  private _onConnection(_: EventsSocket, connected: boolean): void {
    if (connected) {
      void this.reload();
    } else {
      this.stateChanged.emit();
    }
  }

  private _onEvent(_: EventsSocket, event: ServerEvent): void {
    if (event.type === 'pipeline-cell') {
      this._applyCell(event.experiment, event.scan, event.step, event.cell);
    } else if (event.type === 'run') {
      this._onRun(event.run);
    }
  }

  private _applyCell(experiment: string, scan: string, step: string, cell: Cell): void {
    const grid = this._grid;
    if (!grid || grid.experiment !== experiment) {
      return;
    }
    const known = grid.rows.some(row => row.scan === scan);
    // A scan folder that appeared after the grid was read (the watcher found it).
    const rows = known ? grid.rows : [...grid.rows, { scan, cells: {} }];
    this._grid = {
      ...grid,
      rows: rows.map(row =>
        row.scan === scan ? { ...row, cells: { ...row.cells, [step]: cell } } : row
      )
    };
    const log = this._log;
    if (log && log.scan === scan && log.step === step) {
      if (cell.jobId && cell.jobId !== log.jobId) {
        this._log = { ...log, jobId: cell.jobId, text: null };
      }
      void this._refreshLog();
    }
    this.stateChanged.emit();
  }

  private _onRun(run: RunView): void {
    if (this._runFilter === 'all' || this._runs.some(r => r.id === run.id)) {
      this._upsertRun(run);
    } else {
      this.stateChanged.emit();
    }
    if (run.id === this._openRunFallback?.id) {
      this._openRunFallback = run;
    }
    // Membership of a filtered list is the server's call: ask it again after a change.
    if (this._runFilter !== 'all') {
      void this._loadRuns();
    }
  }

  private _upsertRun(run: RunView): void {
    const index = this._runs.findIndex(r => r.id === run.id);
    this._runs =
      index < 0
        ? [run, ...this._runs]
        : [...this._runs.slice(0, index), run, ...this._runs.slice(index + 1)];
    this.stateChanged.emit();
  }

  private async _loadGrid(): Promise<void> {
    const experiment = this._experiment;
    if (experiment === null) {
      return;
    }
    await this._guard(async () => {
      const grid = await this._api.grid(experiment);
      if (this._experiment === experiment) {
        this._grid = grid;
      }
    });
  }

  private async _loadRuns(): Promise<void> {
    const filter = this._runFilter;
    await this._guard(async () => {
      const runs = await this._api.runs(filter === 'all' ? undefined : filter);
      if (this._runFilter === filter) {
        // The run being looked at stays open when the filter leaves it out.
        const open = this.openRun;
        this._openRunFallback = open && !runs.some(run => run.id === open.id) ? open : null;
        this._runs = runs;
      }
    });
  }

  private async _loadSites(): Promise<void> {
    await this._guard(async () => {
      this._sites = await this._api.sites();
      const wanted = this._site || this._settings().defaultSite;
      const site = this._sites.find(s => s.name === wanted) ?? this._sites[0];
      if (site && site.name !== this._site) {
        this._site = site.name;
        this._queue = this._settings().defaultQueue || this._defaultQueue(site.name);
      }
    });
  }

  private _defaultQueue(site: string): string {
    return this._sites.find(s => s.name === site)?.defaultQueue ?? '';
  }

  /** Runs a server call; a failure is shown in the sidebar instead of thrown. */
  private async _guard<T>(action: () => Promise<T>): Promise<T | null> {
    try {
      const result = await action();
      this.stateChanged.emit();
      return result;
    } catch (reason) {
      this._error = (reason as Error).message;
      this.stateChanged.emit();
      return null;
    }
  }

  private readonly _api: PipelinesApi;
  private readonly _events: EventsSocket;
  private readonly _settings: () => IPipelineSettings;
  private _experiment: string | null = null;
  private _grid: GridView | null = null;
  private _selection: IGridSelection = EMPTY_SELECTION;
  private _sites: ISiteChoice[] = [];
  private _site = '';
  private _queue = '';
  private _runs: RunView[] = [];
  private _runFilter: RunListFilter = 'all';
  private _openRunId: string | null = null;
  private _openRunFallback: RunView | null = null;
  private _log: IStepLog | null = null;
  private _error: string | null = null;
}
