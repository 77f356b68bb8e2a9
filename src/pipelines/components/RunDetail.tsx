import type { TranslationBundle } from '@jupyterlab/translation';

import type { RunView } from '../../protocol/pipelines';
import { eventKindLabel, formatDuration, formatTime, runStateLabel } from '../labels';
import { RESULT_STEP } from '../model';

export interface IRunDetailProps {
  run: RunView;
  onClose: () => void;
  onCancel: () => void;
  onRetry: () => void;
  onExport: () => void;
  onOpenResult: (scan: string) => void;
  onShowLog: (jobId: string, scan: string, step: string) => void;
  trans: TranslationBundle;
}

/** One run: where it ran, its event log (step started / completed, durations) and its actions. */
export function RunDetail(props: IRunDetailProps): JSX.Element {
  const { run, trans } = props;
  const finished = run.state === 'done' || run.state === 'failed' || run.state === 'canceled';
  const withResult = run.scans.filter(scan =>
    run.events.some(e => e.scan === scan && e.step === RESULT_STEP && e.kind === 'completed')
  );
  return (
    <section
      className="jp-NexusPipelines-runDetail"
      data-run={run.id}
      aria-label={trans.__('Run %1', run.id)}
    >
      <header>
        <span className={`jp-NexusPipelines-runState jp-mod-${run.state}`}>
          {runStateLabel(run.state, trans)}
        </span>
        <span>
          {trans.__(
            '%1 on %2, started %3',
            run.pipeline,
            run.queue ? `${run.site}/${run.queue}` : run.site,
            formatTime(run.created)
          )}
          {run.finished ? `, ${trans.__('finished %1', formatTime(run.finished))}` : ''}
        </span>
        <button
          className="jp-NexusPipelines-close"
          aria-label={trans.__('Close run')}
          onClick={props.onClose}
        >
          ×
        </button>
      </header>
      <div className="jp-NexusPipelines-actions">
        <button className="jp-mod-styled" disabled={finished} onClick={props.onCancel}>
          {trans.__('Cancel')}
        </button>
        <button
          className="jp-mod-styled"
          disabled={run.state !== 'failed' && run.state !== 'canceled'}
          onClick={props.onRetry}
        >
          {trans.__('Retry')}
        </button>
        <button className="jp-mod-styled" onClick={props.onExport}>
          {trans.__('Export as notebook')}
        </button>
        {withResult.map(scan => (
          <button
            key={scan}
            className="jp-mod-styled jp-NexusPipelines-openResult"
            data-scan={scan}
            onClick={() => props.onOpenResult(scan)}
          >
            {withResult.length > 1 ? trans.__('Open result of %1', scan) : trans.__('Open result')}
          </button>
        ))}
      </div>
      <table className="jp-NexusPipelines-events">
        <thead>
          <tr>
            <th scope="col">{trans.__('Time')}</th>
            <th scope="col">{trans.__('Scan')}</th>
            <th scope="col">{trans.__('Step')}</th>
            <th scope="col">{trans.__('Event')}</th>
            <th scope="col">{trans.__('Duration')}</th>
          </tr>
        </thead>
        <tbody>
          {run.events.map((event, index) => (
            <tr
              key={index}
              className={`jp-mod-${event.kind}${event.jobId ? ' jp-mod-hasLog' : ''}`}
              title={event.message ?? (event.jobId ? trans.__('Show the output of this step') : '')}
              onClick={() => event.jobId && props.onShowLog(event.jobId, event.scan, event.step)}
            >
              <td>{formatTime(event.time)}</td>
              <td>{event.scan}</td>
              <td>{event.step}</td>
              <td>{eventKindLabel(event.kind, trans)}</td>
              <td>{event.durationMs === undefined ? '' : formatDuration(event.durationMs)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
