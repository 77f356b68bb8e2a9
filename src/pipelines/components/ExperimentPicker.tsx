import { useEffect, useState } from 'react';
import type { TranslationBundle } from '@jupyterlab/translation';

export interface IExperimentPickerProps {
  /** the file browser's current folder, followed until the user types a path */
  browserPath: string;
  experiment: string | null;
  onPick: (path: string) => void;
  trans: TranslationBundle;
}

/** Chooses the experiment folder: the file browser's folder, or a typed path. */
export function ExperimentPicker(props: IExperimentPickerProps): JSX.Element {
  const { browserPath, experiment, onPick, trans } = props;
  const [typed, setTyped] = useState<string | null>(null);
  useEffect(() => setTyped(null), [browserPath]);
  const path = typed ?? browserPath;
  return (
    <form
      className="jp-NexusPipelines-picker"
      onSubmit={event => {
        event.preventDefault();
        onPick(path);
      }}
    >
      <label className="jp-NexusPipelines-pickerLabel">
        {trans.__('Experiment folder')}
        <input
          className="jp-mod-styled"
          value={path}
          placeholder={trans.__('(Jupyter root)')}
          onChange={event => setTyped(event.target.value)}
        />
      </label>
      <button type="submit" className="jp-mod-styled jp-mod-accept">
        {trans.__('Use this folder')}
      </button>
      <div className="jp-NexusPipelines-current" aria-live="polite">
        {experiment === null
          ? trans.__('No experiment folder picked yet.')
          : trans.__('Experiment: %1', experiment || '/')}
      </div>
    </form>
  );
}
