// find: 3-D peak search in the raw stack → nexus/peaks.nxs (x, y, z = frame, intensity per peak).
// A peak is a voxel above the threshold that is the maximum of its 3×3×3 neighbourhood; its
// position is the background-subtracted centroid of the (2·box+1)³ voxels around it, in index
// units (pixel i counts at i, as hklOfPixel takes it), and peaks closer than the minimum separation to a stronger one are dropped. Frames stream
// through a window of 2·box+1 frames, so memory does not grow with the scan.
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
  /** half-width of the centroid box, voxels */
  box: number;
}

export interface Peak {
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

export function searchStack(stack: RawStack, threshold: number, box: number): Peak[] {
  const { rows, cols, frames } = stack;
  const window = new Map<number, Float64Array>();
  const frame = (k: number): Float64Array => {
    let values = window.get(k);
    if (!values) {
      values = Float64Array.from(stack.read(k, 1) as ArrayLike<number>);
      window.set(k, values);
    }
    return values;
  };
  const candidates: Peak[] = [];
  for (let z = 0; z < frames; z++) {
    window.delete(z - box - 1);
    const current = frame(z);
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        const v = current[y * cols + x];
        if (v > threshold && isLocalMaximum(v, x, y, z)) {
          candidates.push(centroid(x, y, z));
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
      if (z + dz < 0 || z + dz >= frames) {
        continue;
      }
      const values = frame(z + dz);
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const [xx, yy] = [x + dx, y + dy];
          if (xx < 0 || yy < 0 || xx >= cols || yy >= rows || (dx === 0 && dy === 0 && dz === 0)) {
            continue;
          }
          const n = values[yy * cols + xx];
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

  function centroid(x: number, y: number, z: number): Peak {
    const [z0, z1] = [Math.max(0, z - box), Math.min(frames - 1, z + box)];
    const [y0, y1] = [Math.max(0, y - box), Math.min(rows - 1, y + box)];
    const [x0, x1] = [Math.max(0, x - box), Math.min(cols - 1, x + box)];
    // negative counts are detector gaps, not signal
    let background = Infinity;
    for (let k = z0; k <= z1; k++) {
      const values = frame(k);
      for (let j = y0; j <= y1; j++) {
        for (let i = x0; i <= x1; i++) {
          const n = values[j * cols + i];
          if (n >= 0 && n < background) {
            background = n;
          }
        }
      }
    }
    let [sw, sx, sy, sz] = [0, 0, 0, 0];
    for (let k = z0; k <= z1; k++) {
      const values = frame(k);
      for (let j = y0; j <= y1; j++) {
        for (let i = x0; i <= x1; i++) {
          const n = values[j * cols + i];
          if (n >= 0) {
            const w = n - background;
            sw += w;
            sx += w * i;
            sy += w * j;
            sz += w * k;
          }
        }
      }
    }
    return sw > 0
      ? { x: sx / sw, y: sy / sw, z: sz / sw, intensity: sw }
      : { x, y, z, intensity: 0 };
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
    peaks = separated(searchStack(stack, threshold, options.box), options.minSeparation);
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
