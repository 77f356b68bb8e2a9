import type { TranslationBundle } from '@jupyterlab/translation';

import type { ISiteChoice } from '../api';

export interface IRunControlsProps {
  sites: ISiteChoice[];
  site: string;
  queue: string;
  /** scans × steps of the selection */
  selectedCells: number;
  autoRun: boolean;
  onSite: (site: string) => void;
  onQueue: (queue: string) => void;
  onRun: () => void;
  onAutoRun: (autoRun: boolean) => void;
  trans: TranslationBundle;
}

/** Where the selection runs (site, queue), the Run button and the folder's auto-run switch. */
export function RunControls(props: IRunControlsProps): JSX.Element {
  const { sites, site, queue, selectedCells, autoRun, trans } = props;
  const queues = sites.find(s => s.name === site)?.queues ?? [];
  return (
    <div className="jp-NexusPipelines-runControls">
      <label>
        {trans.__('Site')}
        <select
          className="jp-mod-styled"
          value={site}
          onChange={event => props.onSite(event.target.value)}
        >
          {sites.map(s => (
            <option key={s.name} value={s.name}>
              {s.description ? `${s.name} — ${s.description}` : s.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        {trans.__('Queue')}
        <select
          className="jp-mod-styled"
          value={queue}
          onChange={event => props.onQueue(event.target.value)}
        >
          <option value="">{trans.__('(site default)')}</option>
          {queues.map(q => (
            <option key={q.name} value={q.name}>
              {q.name}
            </option>
          ))}
          {queue && !queues.some(q => q.name === queue) && <option value={queue}>{queue}</option>}
        </select>
      </label>
      <button
        className="jp-mod-styled jp-mod-accept jp-NexusPipelines-run"
        disabled={!selectedCells || !site}
        onClick={props.onRun}
      >
        {selectedCells
          ? trans._n('Run %1 cell', 'Run %1 cells', selectedCells)
          : trans.__('Select cells to run')}
      </button>
      <label className="jp-NexusPipelines-autoRun">
        <input
          type="checkbox"
          checked={autoRun}
          onChange={event => props.onAutoRun(event.target.checked)}
        />
        {trans.__('Auto-run new scans in this folder')}
      </label>
    </div>
  );
}
