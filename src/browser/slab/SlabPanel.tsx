// The slab control: plane presets or a free plane, thickness, range and resolution; progress,
// cancel, save and insert code; the result as an H5Web heatmap with axes in r.l.u. Loaded with a
// dynamic import() alongside H5Web.
import { useEffect, useMemo, useReducer, useState } from 'react';
import ndarray from 'ndarray';
import { getDomain, HeatmapVis, ScaleType } from '@h5web/lib';
import type { TranslationBundle } from '@jupyterlab/translation';

import type { HklVector, SlabPlane } from '../../protocol/slabs';
import type { SlabModel } from './model';

export interface ISlabPanelProps {
  model: SlabModel;
  trans: TranslationBundle;
  /** inserts the slab's code into the current notebook (nexus:insert-slab-code) */
  onInsertCode: () => void;
}

type Preset = SlabPlane['preset'];

function parseVector(text: string): HklVector | null {
  const parts = text
    .trim()
    .split(/[\s,]+/)
    .map(Number);
  return parts.length === 3 && parts.every(Number.isFinite) ? (parts as HklVector) : null;
}

function NumberField(props: {
  label: string;
  value: number;
  step?: number;
  onChange: (value: number) => void;
  name: string;
}): JSX.Element {
  return (
    <label className="jp-NexusSlab-field">
      <span>{props.label}</span>
      <input
        type="number"
        name={props.name}
        value={props.value}
        step={props.step ?? 'any'}
        onChange={e => props.onChange(e.target.valueAsNumber)}
      />
    </label>
  );
}

export function SlabPanel(props: ISlabPanelProps): JSX.Element {
  const { model, trans } = props;
  const [, refresh] = useReducer((x: number) => x + 1, 0);
  useEffect(() => {
    model.changed.connect(refresh);
    return () => {
      model.changed.disconnect(refresh);
    };
  }, [model]);

  const [preset, setPreset] = useState<Preset>('L');
  const [value, setValue] = useState(0);
  const [origin, setOrigin] = useState('0 0 0');
  const [u, setU] = useState('1 0 0');
  const [v, setV] = useState('0 1 0');
  const [thickness, setThickness] = useState(0.1);
  const [uRange, setURange] = useState<[number, number]>([-4, 4]);
  const [vRange, setVRange] = useState<[number, number]>([-4, 4]);
  const [resolution, setResolution] = useState<[number, number]>([256, 256]);
  const [logScale, setLogScale] = useState(true);
  const [status, setStatus] = useState<string | null>(null);

  const plane = (): SlabPlane | null => {
    if (preset === 'L') {
      return { preset, value };
    }
    if (preset === 'H=K') {
      return { preset };
    }
    const vectors = [origin, u, v].map(parseVector);
    return vectors.every(x => x !== null)
      ? { preset, origin: vectors[0]!, u: vectors[1]!, v: vectors[2]! }
      : null;
  };

  const compute = (): void => {
    const p = plane();
    if (!p) {
      setStatus(trans.__('Origin, u and v need three numbers each'));
      return;
    }
    setStatus(null);
    void model.compute({ plane: p, thickness, range: { u: uRange, v: vRange }, resolution });
  };

  const result = model.result;
  const scaleType = logScale ? ScaleType.Log : ScaleType.Linear;
  const heatmap = useMemo(() => {
    if (!result) {
      return null;
    }
    const [n0, n1] = result.info.grid.dims;
    return { data: ndarray(result.image, [n1, n0]), ...result.info.axes };
  }, [result]);
  const domain = heatmap ? getDomain(heatmap.data.data, { scaleType }) : undefined;
  const snapshot = result?.snapshot;

  return (
    <div
      className="jp-NexusSlab"
      data-slab-id={result?.info.id ?? ''}
      data-slab-state={snapshot?.state ?? ''}
      data-slab-complete={snapshot?.complete ? 'true' : 'false'}
    >
      <div className="jp-NexusSlab-controls">
        <label className="jp-NexusSlab-field">
          <span>{trans.__('Plane')}</span>
          <select name="preset" value={preset} onChange={e => setPreset(e.target.value as Preset)}>
            <option value="L">{trans.__('L = c')}</option>
            <option value="H=K">{trans.__('H = K')}</option>
            <option value="free">{trans.__('Free: origin + u, v')}</option>
          </select>
        </label>
        {preset === 'L' && (
          <NumberField name="value" label={trans.__('L')} value={value} onChange={setValue} />
        )}
        {preset === 'free' && (
          <>
            {(
              [
                [trans.__('Origin (H K L)'), origin, setOrigin, 'origin'],
                [trans.__('u (H K L)'), u, setU, 'u'],
                [trans.__('v (H K L)'), v, setV, 'v']
              ] as const
            ).map(([label, text, set, name]) => (
              <label className="jp-NexusSlab-field" key={name}>
                <span>{label}</span>
                <input name={name} value={text} onChange={e => set(e.target.value)} />
              </label>
            ))}
          </>
        )}
        <NumberField
          name="thickness"
          label={trans.__('Thickness (r.l.u.)')}
          value={thickness}
          onChange={setThickness}
        />
        <NumberField
          name="u0"
          label={trans.__('u from')}
          value={uRange[0]}
          onChange={x => setURange([x, uRange[1]])}
        />
        <NumberField
          name="u1"
          label={trans.__('u to')}
          value={uRange[1]}
          onChange={x => setURange([uRange[0], x])}
        />
        <NumberField
          name="v0"
          label={trans.__('v from')}
          value={vRange[0]}
          onChange={x => setVRange([x, vRange[1]])}
        />
        <NumberField
          name="v1"
          label={trans.__('v to')}
          value={vRange[1]}
          onChange={x => setVRange([vRange[0], x])}
        />
        <NumberField
          name="n0"
          label={trans.__('Pixels along u')}
          value={resolution[0]}
          step={1}
          onChange={x => setResolution([x, resolution[1]])}
        />
        <NumberField
          name="n1"
          label={trans.__('Pixels along v')}
          value={resolution[1]}
          step={1}
          onChange={x => setResolution([resolution[0], x])}
        />
        <label className="jp-NexusSlab-field">
          <span>{trans.__('Log scale')}</span>
          <input
            type="checkbox"
            name="log"
            checked={logScale}
            onChange={e => setLogScale(e.target.checked)}
          />
        </label>
        <div className="jp-NexusSlab-buttons">
          <button className="jp-mod-styled jp-mod-accept" onClick={compute}>
            {trans.__('Compute')}
          </button>
          <button
            className="jp-mod-styled"
            disabled={!model.running}
            onClick={() => void model.cancel()}
          >
            {trans.__('Cancel')}
          </button>
          <button
            className="jp-mod-styled"
            disabled={!snapshot?.complete}
            onClick={() =>
              void model
                .save()
                .then(file => setStatus(trans.__('Saved as %1', file)))
                .catch((e: Error) => setStatus(e.message))
            }
          >
            {trans.__('Save as NeXus')}
          </button>
          <button className="jp-mod-styled" disabled={!result} onClick={props.onInsertCode}>
            {trans.__('Insert code')}
          </button>
        </div>
        {snapshot && result?.info.kind === 'raw' && (
          <progress
            className="jp-NexusSlab-progress"
            max={Math.max(1, snapshot.framesTotal)}
            // indeterminate until the server knows how many frames can contribute
            value={
              snapshot.complete
                ? snapshot.framesTotal
                : snapshot.framesTotal > 0
                  ? snapshot.framesDone
                  : undefined
            }
            title={trans.__('%1 of %2 frames', snapshot.framesDone, snapshot.framesTotal)}
          />
        )}
        {(model.error ?? status) && (
          <div className="jp-NexusSlab-status">{model.error ?? status}</div>
        )}
      </div>
      <div className="jp-NexusSlab-image">
        {heatmap && result && (
          <HeatmapVis
            dataArray={heatmap.data}
            domain={domain}
            scaleType={scaleType}
            colorMap="Viridis"
            aspect="auto"
            abscissaParams={{ label: result.info.labels.u, value: heatmap.u }}
            ordinateParams={{ label: result.info.labels.v, value: heatmap.v }}
          />
        )}
      </div>
    </div>
  );
}

export default SlabPanel;
