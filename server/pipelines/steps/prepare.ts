// prepare: the HKL grid of the transform and the pixel mask → nexus/prepare.json (+ mask.nxs).
// The grid covers integer HKL ranges (given, or the extent the detector sweeps through in the
// scan), with integer HKL at voxel centres: steps are 1/n r.l.u. and the origin sits half a voxel
// below the lowest integer. The mask marks pixels that are negative in the first frame, which is
// how Pilatus detectors flag their module gaps and dead pixels.
import pkg from '../../../package.json' with { type: 'json' };
import { detectorToLab, labToHkl, phiOfFrame, scatteringVector } from '../../transform/forward.js';
import type { Geometry } from '../../transform/geometry.js';
import { initHdf5 } from '../../transform/hdf5-access.js';
import { InputError } from '../../transform/input-error.js';
import { matVec } from '../../transform/matrix.js';
import { ensureGroup } from '../../transform/nexus-output.js';
import { RawStack } from '../../transform/raw-stack.js';
import { RAW_DATA } from './max.js';
import { PROGRAM, progress, writeJsonFile, writeNexusFile, writeProcess } from './output.js';
import { currentSettings, requireInput, scanPaths } from './scan.js';

export type Range = [number, number];

export interface PrepareOptions {
  h?: Range;
  k?: Range;
  l?: Range;
  /** voxel edge in r.l.u., rounded to 1/n */
  step: number;
  mask: 'auto' | 'none';
  maxVoxels: number;
}

/** What transform and combine read. */
export interface Preparation {
  program: string;
  version: string;
  date: string;
  command: string;
  raw: string;
  geometry: string;
  /** nexus-transform --grid form H0:H1:NH,K0:K1:NK,L0:L1:NL */
  grid: string;
  ranges: { h: Range; k: Range; l: Range };
  step: number;
  dims: [number, number, number];
  /** FILE#PATH of the pixel mask, or null */
  mask: string | null;
  maskedPixels: number;
}

/** Points sampled along each detector axis and through the frames to find the HKL extent. */
const EXTENT_SAMPLES = 33;

function samples(count: number): number[] {
  const n = Math.min(count, EXTENT_SAMPLES);
  return Array.from({ length: n }, (_, i) => (n === 1 ? 0 : (i * (count - 1)) / (n - 1)));
}

/** Integer HKL ranges that contain every sampled pixel of every sampled frame. */
function sweptRanges(g: Geometry, frames: number, rows: number, cols: number): Range[] {
  const toLab = detectorToLab(g);
  const q = samples(rows).flatMap(y => samples(cols).map(x => scatteringVector(g, toLab, x, y)));
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  for (const z of samples(frames)) {
    const m = labToHkl(g, phiOfFrame(g, z));
    for (const v of q) {
      matVec(m, v).forEach((h, i) => {
        lo[i] = Math.min(lo[i], h);
        hi[i] = Math.max(hi[i], h);
      });
    }
  }
  return [0, 1, 2].map(i => [Math.floor(lo[i]), Math.ceil(hi[i])]);
}

export async function prepare(
  scanDir: string,
  options: PrepareOptions,
  command: string
): Promise<void> {
  const paths = scanPaths(scanDir);
  requireInput(paths.raw, 'stack');
  const { settings, source } = currentSettings(paths);
  await initHdf5();
  const stack = new RawStack({ file: paths.raw, path: RAW_DATA });
  let firstFrame: ArrayLike<number>;
  try {
    firstFrame = stack.read(0, 1) as ArrayLike<number>;
  } finally {
    stack.close();
  }
  const swept = sweptRanges(settings.geometry, stack.frames, stack.rows, stack.cols);
  const ranges = [options.h, options.k, options.l].map((r, i) => r ?? swept[i]) as Range[];
  const perUnit = Math.max(1, Math.round(1 / options.step));
  const dims = ranges.map(([lo, hi]) => (hi - lo) * perUnit + 1) as [number, number, number];
  const voxels = dims[0] * dims[1] * dims[2];
  if (voxels > options.maxVoxels) {
    throw new InputError(
      `the grid ${dims.join('×')} (H ${ranges[0]}, K ${ranges[1]}, L ${ranges[2]} in steps of 1/${perUnit}) has ` +
        `${voxels} voxels, more than --max-voxels ${options.maxVoxels}; give a larger --step or --h/--k/--l ranges`
    );
  }
  const half = 1 / (2 * perUnit);
  const grid = ranges.map(([lo, hi], i) => `${lo - half}:${hi + half}:${dims[i]}`).join(',');

  let mask: string | null = null;
  let maskedPixels = 0;
  if (options.mask === 'auto') {
    const bad = Uint8Array.from(firstFrame, v => (v < 0 ? 1 : 0));
    maskedPixels = bad.reduce((s, v) => s + v, 0);
    if (maskedPixels > 0) {
      await writeNexusFile(paths.mask, entry => {
        entry.create_attribute('default', 'mask');
        const group = ensureGroup(entry, 'mask', 'NXdata');
        group.create_dataset({ name: 'data', data: bad, shape: [stack.rows, stack.cols] });
        group.create_attribute('signal', 'data');
        writeProcess(entry, {
          step: 'prepare',
          command,
          parameters: { rule: 'negative in frame 0' },
          inputs: [`${paths.raw}#${RAW_DATA}`]
        });
      });
      mask = `${paths.mask}#/entry/mask/data`;
    }
  }
  const preparation: Preparation = {
    program: PROGRAM,
    version: pkg.version,
    date: new Date().toISOString(),
    command,
    raw: `${paths.raw}#${RAW_DATA}`,
    geometry: source,
    grid,
    ranges: { h: ranges[0], k: ranges[1], l: ranges[2] },
    step: 1 / perUnit,
    dims,
    mask,
    maskedPixels
  };
  writeJsonFile(paths.prepare, preparation);
  progress(
    'prepare',
    `grid ${dims.join('×')} (H ${ranges[0]}, K ${ranges[1]}, L ${ranges[2]}, step 1/${perUnit}), ${maskedPixels} masked pixels`
  );
}
