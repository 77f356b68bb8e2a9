import type { TranslationBundle } from '@jupyterlab/translation';

import { cellStateLabel } from '../labels';
import type { PipelineModel } from '../model';
import { ExperimentPicker } from './ExperimentPicker';
import { RunControls } from './RunControls';
import { RunDetail } from './RunDetail';
import { RunList } from './RunList';
import { StatusGrid } from './StatusGrid';
import { StepLog } from './StepLog';

export interface IPipelinePanelProps {
  model: PipelineModel;
  browserPath: string;
  onPick: (path: string) => void;
  onExport: (runId: string) => void;
  onOpenResult: (experiment: string, scan: string) => void;
  trans: TranslationBundle;
}

const LEGEND = ['not-started', 'queued', 'running', 'done', 'failed', 'canceled'] as const;

/** The whole sidebar; every piece of state lives in the model. */
export function PipelinePanel(props: IPipelinePanelProps): JSX.Element {
  const { model, trans } = props;
  const { grid, selection, openRun, log, error } = model;
  const selectedCells = selection.scans.length * selection.steps.length;
  return (
    <div className="jp-NexusPipelines-body">
      <h2 className="jp-NexusPipelines-title">{trans.__('NeXus Pipelines')}</h2>
      {!model.connected && (
        <div className="jp-NexusPipelines-offline" role="status">
          {trans.__('Live updates are reconnecting…')}
        </div>
      )}
      {error && (
        <div className="jp-NexusPipelines-error" role="alert">
          <span>{error}</span>
          <button
            className="jp-NexusPipelines-close"
            aria-label={trans.__('Dismiss')}
            onClick={() => model.dismissError()}
          >
            ×
          </button>
        </div>
      )}
      <ExperimentPicker
        browserPath={props.browserPath}
        experiment={model.experiment}
        onPick={props.onPick}
        trans={trans}
      />
      {grid && (
        <>
          <StatusGrid
            grid={grid}
            selection={selection}
            runnableSteps={model.runnableSteps}
            onSelect={value => model.setSelection(value)}
            onSelectAll={() => model.selectAll()}
            trans={trans}
          />
          <ul className="jp-NexusPipelines-legend" aria-label={trans.__('Cell states')}>
            {LEGEND.map(state => (
              <li key={state}>
                <span className={`jp-NexusPipelines-swatch jp-mod-${state}`} />
                {cellStateLabel(state, trans)}
              </li>
            ))}
          </ul>
          <RunControls
            sites={model.sites}
            site={model.site}
            queue={model.queue}
            selectedCells={selectedCells}
            autoRun={grid.watch.autoRun}
            onSite={site => model.setSite(site)}
            onQueue={queue => model.setQueue(queue)}
            onRun={() => void model.run()}
            onAutoRun={autoRun => void model.setAutoRun(autoRun)}
            trans={trans}
          />
        </>
      )}
      {log && (
        <StepLog
          log={log}
          onStream={stream => void model.showLog(log.jobId, log.scan, log.step, stream)}
          onClose={() => model.closeLog()}
          trans={trans}
        />
      )}
      {openRun && (
        <RunDetail
          run={openRun}
          onClose={() => void model.openRunDetail(null)}
          onCancel={() => void model.cancelRun(openRun.id)}
          onRetry={() => void model.retryRun(openRun.id)}
          onExport={() => props.onExport(openRun.id)}
          onOpenResult={scan => props.onOpenResult(openRun.experiment, scan)}
          onShowLog={(jobId, scan, step) =>
            void model.showLog(jobId, scan, step, log?.stream ?? 'stderr')
          }
          trans={trans}
        />
      )}
      <h3 className="jp-NexusPipelines-subtitle">{trans.__('Runs')}</h3>
      <RunList
        runs={model.runs}
        filter={model.runFilter}
        openRunId={openRun?.id ?? null}
        onFilter={filter => void model.setRunFilter(filter)}
        onOpen={id => void model.openRunDetail(id)}
        trans={trans}
      />
    </div>
  );
}
