// find: 3-D peak search in the raw stack → nexus/peaks.nxs (x, y, z = frame, intensity per peak).
// A peak is a voxel above the threshold that is the maximum of its 3×3×3 neighbourhood; its
// position is the background-subtracted centroid of the box of ±box pixels and ±boxFrames frames
// around it, in index units (pixel i counts at i, as hklOfPixel takes it). A peak whose box is
// cut by the detector's or the scan's edge, or holds gap pixels (negative counts), is dropped:
// its centroid would be biased. Peaks closer than the minimum separation to a stronger one are
// dropped too. Frames stream through a window of 2·boxFrames+1, so memory does not grow with
// the scan.
import { Group } from 'h5wasm/node';
import { initHdf5, openForReading } from '../../transform/hdf5-access.js';
import { InputError } from '../../transform/input-error.js';
import { ensureGroup } from '../../transform/nexus-output.js';
import { RawStack } from '../../transform/raw-stack.js';
import { RAW_DATA } from './max.js';
import { progress, writeNexusFile, writeProcess } from './output.js';
import { requireInput, scanPaths } from './scan.js';

export interface FindOptions {
  /** counts; default: a tenth of the scan's maximum (from max.nxs), as NXRefine */
  threshold?: number;
  /** voxels (pixels and frames) */
  minSeparation: number;
  /** half-widths of the centroid box: pixels, frames */
  box: number;
  boxFrames: number;
}

interface Peak {
  x: number;
  y: number;
  z: number;
  /** background-subtracted sum over the centroid box */
  intensity: number;
}

const DEFAULT_THRESHOLD_SHARE = 0.1;

function thresholdFromMax(maxFile: string): number {
  const file = openForReading(maxFile);
  try {
    const group = file.get('entry/maximum');
    const maximum = Number(group instanceof Group ? group.attrs['maximum']?.value : NaN);
    if (!Number.isFinite(maximum)) {
      throw new InputError(`${maxFile} has no entry/maximum@maximum; rerun the max step`);
    }
    return maximum * DEFAULT_THRESHOLD_SHARE;
  } finally {
    file.close();
  }
}

/** Stronger peaks first; a peak within `separation` of a kept one is dropped. */
function separated(peaks: Peak[], separation: number): Peak[] {
  const cell = Math.max(separation, 1);
  const kept = new Map<string, Peak[]>();
  const key = (x: number, y: number, z: number): string =>
    `${Math.floor(x / cell)},${Math.floor(y / cell)},${Math.floor(z / cell)}`;
  const result: Peak[] = [];
  for (const peak of [...peaks].sort((a, b) => b.intensity - a.intensity)) {
    let clear = true;
    for (let dx = -1; dx <= 1 && clear; dx++) {
      for (let dy = -1; dy <= 1 && clear; dy++) {
        for (let dz = -1; dz <= 1 && clear; dz++) {
          const near = kept.get(key(peak.x + dx * cell, peak.y + dy * cell, peak.z + dz * cell));
          clear = !near?.some(
            p => Math.hypot(p.x - peak.x, p.y - peak.y, p.z - peak.z) < separation
          );
        }
      }
    }
    if (clear) {
      const k = key(peak.x, peak.y, peak.z);
      kept.set(k, [...(kept.get(k) ?? []), peak]);
      result.push(peak);
    }
  }
  return result;
}

function searchStack(stack: RawStack, threshold: number, options: FindOptions): Peak[] {
  const { rows, cols, frames } = stack;
  const { box, boxFrames } = options;
  // frames kept in their own sample type: the window is 2·boxFrames+1 whole frames
  const window = new Map<number, ArrayLike<number>>();
  const frame = (k: number): ArrayLike<number> => {
    let values = window.get(k);
    if (!values) {
      values = stack.read(k, 1) as ArrayLike<number>;
      window.set(k, values);
    }
    return values;
  };
  const candidates: Peak[] = [];
  for (let z = boxFrames; z < frames - boxFrames; z++) {
    window.delete(z - boxFrames - 1);
    const current = frame(z);
    for (let y = box; y < rows - box; y++) {
      for (let x = box; x < cols - box; x++) {
        const v = current[y * cols + x];
        if (v > threshold && isLocalMaximum(v, x, y, z)) {
          const peak = centroid(x, y, z);
          if (peak) {
            candidates.push(peak);
          }
        }
      }
    }
    if ((z + 1) % 100 === 0) {
      progress('find', `${z + 1}/${frames} frames, ${candidates.length} candidates`);
    }
  }
  return candidates;

  function isLocalMaximum(v: number, x: number, y: number, z: number): boolean {
    for (let dz = -1; dz <= 1; dz++) {
      const values = frame(z + dz);
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const n = values[(y + dy) * cols + x + dx];
          // on a plateau the first voxel in scan order is the maximum
          const earlier = dz * 9 + dy * 3 + dx < 0;
          if (n > v || (n === v && earlier)) {
            return false;
          }
        }
      }
    }
    return true;
  }

  /** null when the box holds gap pixels */
  function centroid(x: number, y: number, z: number): Peak | null {
    let background = Infinity;
    for (let k = z - boxFrames; k <= z + boxFrames; k++) {
      const values = frame(k);
      for (let j = y - box; j <= y + box; j++) {
        for (let i = x - box; i <= x + box; i++) {
          background = Math.min(background, values[j * cols + i]);
        }
      }
    }
    if (background < 0) {
      return null;
    }
    let [sw, sx, sy, sz] = [0, 0, 0, 0];
    for (let k = z - boxFrames; k <= z + boxFrames; k++) {
      const values = frame(k);
      for (let j = y - box; j <= y + box; j++) {
        for (let i = x - box; i <= x + box; i++) {
          const w = values[j * cols + i] - background;
          sw += w;
          sx += w * i;
          sy += w * j;
          sz += w * k;
        }
      }
    }
    return { x: sx / sw, y: sy / sw, z: sz / sw, intensity: sw };
  }
}

export async function findPeaks(
  scanDir: string,
  options: FindOptions,
  command: string
): Promise<void> {
  const paths = scanPaths(scanDir);
  requireInput(paths.raw, 'stack');
  await initHdf5();
  const threshold = options.threshold ?? thresholdFromMax(requireInput(paths.max, 'max'));
  const stack = new RawStack({ file: paths.raw, path: RAW_DATA });
  let peaks: Peak[];
  try {
    peaks = separated(searchStack(stack, threshold, options), options.minSeparation);
  } finally {
    stack.close();
  }
  if (peaks.length === 0) {
    throw new InputError(`no peaks above the threshold ${threshold}; lower --threshold`);
  }
  peaks.sort((a, b) => a.z - b.z || a.y - b.y || a.x - b.x);
  await writeNexusFile(paths.peaks, entry => {
    entry.create_attribute('default', 'peaks');
    const group = ensureGroup(entry, 'peaks', 'NXdata');
    for (const name of ['x', 'y', 'z', 'intensity'] as const) {
      group.create_dataset({ name, data: Float64Array.from(peaks, p => p[name]) });
    }
    group.create_attribute('signal', 'intensity');
    group.create_attribute('threshold', threshold);
    writeProcess(entry, {
      step: 'find',
      command,
      parameters: { ...options, threshold },
      inputs: [`${paths.raw}#${RAW_DATA}`]
    });
  });
  progress('find', `${peaks.length} peaks above ${threshold}`);
}
