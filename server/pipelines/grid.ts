import type { GridView, ScanRow, WatchSetting } from '../../src/protocol/pipelines.js';
import { DEFAULT_PIPELINE, stepOrder, type PipelineDefinitions } from './definitions.js';
import { listScans, resolveExperiment } from './experiments.js';
import type { PipelineStore } from './pipeline-store.js';
import { toCell } from './pipeline-store.js';

// The status grid of an experiment: one row per scan folder on disk (and per scan the store
// still remembers, should its folder be gone), one column per step of the pipeline.

export function gridOf(
  store: PipelineStore,
  definitions: PipelineDefinitions,
  root: string,
  experimentPath: string,
  pipeline?: string
): GridView {
  const experiment = resolveExperiment(root, experimentPath);
  const watch: WatchSetting = store.getWatch(experiment.relative) ?? {
    experiment: experiment.relative,
    autoRun: false
  };
  const definition = definitions.get(pipeline ?? watch.pipeline ?? DEFAULT_PIPELINE);
  const steps = stepOrder(definition.steps);
  const latest = store.latestCells(experiment.relative);
  const scans = [...new Set([...listScans(experiment.dir), ...latest.map(c => c.scan)])];
  const rows: ScanRow[] = scans.map(scan => ({
    scan,
    cells: Object.fromEntries(
      steps.map(step => {
        const cell = latest.find(c => c.scan === scan && c.step === step.id);
        return [step.id, cell ? toCell(cell) : { state: 'not-started', updated: '' }];
      })
    )
  }));
  return { experiment: experiment.relative, pipeline: definition.name, steps, rows, watch };
}
