import type { TranslationBundle } from '@jupyterlab/translation';

import type { GridView } from '../../protocol/pipelines';
import { cellStateLabel } from '../labels';
import { isCellSelected, pickAxis, pickCell, pickMode, type IGridSelection } from '../selection';

export interface IStatusGridProps {
  grid: GridView;
  selection: IGridSelection;
  runnableSteps: string[];
  onSelect: (selection: IGridSelection) => void;
  onSelectAll: () => void;
  trans: TranslationBundle;
}

/** Scans × steps, one coloured cell per (scan, step) state; click, ctrl- and shift-click select. */
export function StatusGrid(props: IStatusGridProps): JSX.Element {
  const { grid, selection, runnableSteps, onSelect, onSelectAll, trans } = props;
  const scans = grid.rows.map(row => row.scan);
  const steps = grid.steps.map(step => step.id);
  if (!grid.rows.length) {
    return (
      <div className="jp-NexusPipelines-empty">
        {trans.__('No scan folders in %1.', grid.experiment || '/')}
      </div>
    );
  }
  return (
    <div className="jp-NexusPipelines-gridScroll">
      <table
        className="jp-NexusPipelines-grid"
        aria-label={trans.__('Pipeline status of %1', grid.experiment || '/')}
        aria-multiselectable="true"
      >
        <thead>
          <tr>
            <th scope="col">
              <button className="jp-NexusPipelines-selectAll" onClick={onSelectAll}>
                {trans.__('Select all')}
              </button>
            </th>
            {grid.steps.map(step => (
              <th key={step.id} scope="col">
                <button
                  className={
                    'jp-NexusPipelines-stepHeader' +
                    (selection.steps.includes(step.id) ? ' jp-mod-selected' : '') +
                    (step.enabled === false ? ' jp-mod-disabled' : '')
                  }
                  title={
                    step.enabled === false ? trans.__('%1 (disabled)', step.label) : step.label
                  }
                  data-step={step.id}
                  aria-pressed={selection.steps.includes(step.id)}
                  onClick={event =>
                    onSelect(pickAxis(selection, 'steps', steps, scans, step.id, pickMode(event)))
                  }
                >
                  {step.label}
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {grid.rows.map(row => (
            <tr key={row.scan}>
              <th scope="row">
                <button
                  className={
                    'jp-NexusPipelines-scanHeader' +
                    (selection.scans.includes(row.scan) ? ' jp-mod-selected' : '')
                  }
                  data-scan={row.scan}
                  aria-pressed={selection.scans.includes(row.scan)}
                  onClick={event =>
                    onSelect(
                      pickAxis(selection, 'scans', scans, runnableSteps, row.scan, pickMode(event))
                    )
                  }
                >
                  {row.scan}
                </button>
              </th>
              {grid.steps.map(step => {
                const cell = row.cells[step.id];
                const state = cell?.state ?? 'not-started';
                const selected = isCellSelected(selection, row.scan, step.id);
                const label = trans.__(
                  '%1, %2: %3',
                  row.scan,
                  step.label,
                  cellStateLabel(state, trans)
                );
                return (
                  <td key={step.id}>
                    <button
                      className={`jp-NexusPipelines-cell jp-mod-${state}${selected ? ' jp-mod-selected' : ''}`}
                      data-scan={row.scan}
                      data-step={step.id}
                      data-state={state}
                      aria-label={label}
                      aria-pressed={selected}
                      title={cell?.message ? `${label}\n${cell.message}` : label}
                      onClick={event =>
                        onSelect(
                          pickCell(selection, scans, steps, row.scan, step.id, pickMode(event))
                        )
                      }
                    />
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
