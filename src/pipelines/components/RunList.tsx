import type { TranslationBundle } from '@jupyterlab/translation';

import type { RunView } from '../../protocol/pipelines';
import { formatTime, runStateLabel } from '../labels';
import type { RunListFilter } from '../model';

export interface IRunListProps {
  runs: RunView[];
  filter: RunListFilter;
  openRunId: string | null;
  onFilter: (filter: RunListFilter) => void;
  onOpen: (id: string) => void;
  trans: TranslationBundle;
}

/** Every run, newest first, filtered by the server's run filters. */
export function RunList(props: IRunListProps): JSX.Element {
  const { runs, filter, openRunId, trans } = props;
  const filters: [RunListFilter, string][] = [
    ['all', trans.__('All')],
    ['active', trans.__('Active')],
    ['waiting', trans.__('Waiting')],
    ['failed', trans.__('Failed')],
    ['completed', trans.__('Completed')]
  ];
  return (
    <div className="jp-NexusPipelines-runs">
      <div className="jp-NexusPipelines-filters" role="tablist" aria-label={trans.__('Run filter')}>
        {filters.map(([value, label]) => (
          <button
            key={value}
            role="tab"
            aria-selected={filter === value}
            className={filter === value ? 'jp-mod-active' : ''}
            onClick={() => props.onFilter(value)}
          >
            {label}
          </button>
        ))}
      </div>
      {runs.length === 0 ? (
        <div className="jp-NexusPipelines-empty">{trans.__('No runs.')}</div>
      ) : (
        <ul className="jp-NexusPipelines-runList">
          {runs.map(run => (
            <li key={run.id}>
              <button
                className={`jp-NexusPipelines-runItem jp-mod-${run.state}${run.id === openRunId ? ' jp-mod-selected' : ''}`}
                data-run={run.id}
                data-state={run.state}
                onClick={() => props.onOpen(run.id)}
              >
                <span className="jp-NexusPipelines-runState">
                  {runStateLabel(run.state, trans)}
                </span>
                <span className="jp-NexusPipelines-runWhat">
                  {trans.__(
                    '%1: %2 scans × %3 steps on %4',
                    run.experiment || '/',
                    run.scans.length,
                    run.steps.length,
                    run.queue ? `${run.site}/${run.queue}` : run.site
                  )}
                  {run.auto ? ` ${trans.__('(auto)')}` : ''}
                </span>
                <span className="jp-NexusPipelines-runTime">{formatTime(run.created)}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
