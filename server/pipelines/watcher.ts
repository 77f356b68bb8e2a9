import { watch, type FSWatcher } from 'chokidar';
import path from 'node:path';
import type { WatchSetting } from '../../src/protocol/pipelines.js';
import { DEFAULT_PIPELINE, stepOrder, type PipelineDefinitions } from './definitions.js';
import { isScan, resolveExperiment } from './experiments.js';
import type { PipelineStore } from './pipeline-store.js';
import type { PipelineRunner } from './runner.js';

// Watched experiment folders (chokidar): a scan folder that appears becomes a grid row as soon as
// its scan.json is there and nothing in it has changed for `settleMs` (frames still being
// written keep postponing it); with auto-run on, the pipeline then starts on it. Step outputs
// (`<scan>/nexus/`) are not watched. Scans already present when watching starts are left alone.

export interface WatcherOptions {
  store: PipelineStore;
  runner: PipelineRunner;
  definitions: PipelineDefinitions;
  root: string;
  /** quiet time after the last change in a scan folder before it counts as complete */
  settleMs?: number;
}

interface Watched {
  setting: WatchSetting;
  dir: string;
  watcher: FSWatcher;
  timers: Map<string, NodeJS.Timeout>;
}

export class FolderWatcher {
  private readonly watched = new Map<string, Watched>();
  private readonly settleMs: number;

  constructor(private readonly options: WatcherOptions) {
    this.settleMs = options.settleMs ?? 3000;
  }

  /** Resumes watching every experiment a previous server watched. */
  async start(): Promise<void> {
    for (const setting of this.options.store.watches()) {
      try {
        await this.watch(setting);
      } catch (err) {
        this.report(err);
      }
    }
  }

  get(experimentPath: string): WatchSetting {
    const experiment = resolveExperiment(this.options.root, experimentPath);
    return (
      this.options.store.getWatch(experiment.relative) ?? {
        experiment: experiment.relative,
        autoRun: false
      }
    );
  }

  /** Stores the setting (persisted across restarts) and (re)starts watching the folder. */
  async set(setting: WatchSetting): Promise<WatchSetting> {
    const experiment = resolveExperiment(this.options.root, setting.experiment);
    const canonical = { ...setting, experiment: experiment.relative };
    if (canonical.pipeline !== undefined) {
      this.options.definitions.get(canonical.pipeline);
    }
    this.options.store.saveWatch(canonical);
    await this.watch(canonical);
    return canonical;
  }

  async close(): Promise<void> {
    for (const experiment of [...this.watched.keys()]) {
      await this.unwatch(experiment);
    }
  }

  private async watch(setting: WatchSetting): Promise<void> {
    await this.unwatch(setting.experiment);
    const { dir } = resolveExperiment(this.options.root, setting.experiment);
    const watcher = watch(dir, {
      ignoreInitial: true,
      depth: 1,
      awaitWriteFinish: { stabilityThreshold: 500, pollInterval: 100 },
      ignored: (file: string) => path.relative(dir, file).split(path.sep)[1] === 'nexus'
    });
    const entry: Watched = { setting, dir, watcher, timers: new Map() };
    watcher.on('all', (_event, file) => {
      const scan = path.relative(dir, file).split(path.sep)[0];
      if (scan && scan !== '..' && !scan.startsWith('.')) {
        this.touched(entry, scan);
      }
    });
    watcher.on('error', err => this.report(err));
    this.watched.set(setting.experiment, entry);
    await new Promise<void>(resolve => watcher.once('ready', () => resolve()));
  }

  private async unwatch(experiment: string): Promise<void> {
    const entry = this.watched.get(experiment);
    if (entry) {
      this.watched.delete(experiment);
      for (const timer of entry.timers.values()) {
        clearTimeout(timer);
      }
      await entry.watcher.close();
    }
  }

  /** Every change postpones the scan's settling. */
  private touched(entry: Watched, scan: string): void {
    clearTimeout(entry.timers.get(scan));
    entry.timers.set(
      scan,
      setTimeout(() => {
        entry.timers.delete(scan);
        try {
          this.settled(entry, scan);
        } catch (err) {
          this.report(err);
        }
      }, this.settleMs)
    );
  }

  private settled(entry: Watched, scan: string): void {
    const { store, runner, definitions } = this.options;
    const { experiment, autoRun, pipeline, site, queue } = entry.setting;
    if (!isScan(entry.dir, scan) || store.latestCells(experiment).some(c => c.scan === scan)) {
      return;
    }
    if (autoRun) {
      runner.startRun({ experiment, scans: [scan], pipeline, site, queue }, true);
      return;
    }
    const definition = definitions.get(pipeline ?? DEFAULT_PIPELINE);
    for (const step of stepOrder(definition.steps)) {
      runner.emitMessage({
        type: 'pipeline-cell',
        experiment,
        scan,
        step: step.id,
        cell: { state: 'not-started', updated: new Date().toISOString() }
      });
    }
  }

  private report(err: unknown): void {
    process.stderr.write(
      `nexus-server: folder watcher: ${err instanceof Error ? err.message : String(err)}\n`
    );
  }
}
