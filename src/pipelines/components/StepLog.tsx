import type { TranslationBundle } from '@jupyterlab/translation';

import type { LogStream } from '../api';
import type { IStepLog } from '../model';

export interface IStepLogProps {
  log: IStepLog;
  onStream: (stream: LogStream) => void;
  onClose: () => void;
  trans: TranslationBundle;
}

/** stdout or stderr of one step's job; refreshed by the model whenever the cell changes. */
export function StepLog(props: IStepLogProps): JSX.Element {
  const { log, trans } = props;
  return (
    <section
      className="jp-NexusPipelines-log"
      aria-label={trans.__('Output of %1, %2', log.scan, log.step)}
    >
      <header>
        <span>{trans.__('%1, %2', log.scan, log.step)}</span>
        {(['stdout', 'stderr'] as const).map(stream => (
          <button
            key={stream}
            className={log.stream === stream ? 'jp-mod-active' : ''}
            aria-pressed={log.stream === stream}
            onClick={() => props.onStream(stream)}
          >
            {stream}
          </button>
        ))}
        <button
          className="jp-NexusPipelines-close"
          aria-label={trans.__('Close output')}
          onClick={props.onClose}
        >
          ×
        </button>
      </header>
      <pre className="jp-NexusPipelines-logText" data-stream={log.stream}>
        {log.text === null ? trans.__('Loading…') : log.text || trans.__('(empty)')}
      </pre>
    </section>
  );
}
