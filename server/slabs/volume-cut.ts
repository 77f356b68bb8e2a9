// A plane through an already transformed volume (nexus-transform's NXdata: v, n shaped
// (NL, NK, NH), axes Qh, Qk, Ql holding voxel lower edges): trilinear interpolation of
// data = v/n (0 where n = 0, as CCTW normalises) at the centre of every slab pixel. Only the
// box of voxels the plane passes through is read. The answer uses the slab's own shape: v is the
// interpolated value and n is 1 where all eight neighbours exist, 0 outside the volume.
import type { ResolvedFile } from '../files/roots.js';
import { HttpError } from '../http/errors.js';
import type { Description } from '../hdf5/messages.js';
import type { WorkerPool } from '../hdf5/pool.js';
import type { Grid } from '../transform/grid.js';
import type { Vec3 } from '../transform/matrix.js';

/** Largest box of v and n (float64 each) a cut may read. */
const MAX_BOX_BYTES = 1024 * 1024 * 1024;

interface Axis {
  first: number;
  step: number;
  length: number;
}

function request(file: ResolvedFile, path: string) {
  return { file, basename: file.basename, path, resolveLinks: 'only_valid' as const };
}

async function readFloat64(
  pool: WorkerPool,
  file: ResolvedFile,
  path: string,
  box?: [number, number][]
): Promise<Float64Array> {
  const desc = await pool.run<Description>({ op: 'describe', ...request(file, path) });
  if (desc.kind !== 'dataset' || desc.h5class !== 1 || desc.size !== 8 || !desc.littleEndian) {
    throw new HttpError(422, `${path} must be a float64 dataset`);
  }
  const shape = desc.shape ?? [];
  const axes = (box ?? shape.map(d => [0, d] as [number, number])).map(([start, stop]) => ({
    start,
    stop,
    step: 1,
    drop: false
  }));
  return new Float64Array(
    await pool.run<ArrayBuffer>({ op: 'readBytes', ...request(file, path), axes })
  );
}

async function axisOf(pool: WorkerPool, file: ResolvedFile, path: string): Promise<Axis> {
  const values = await readFloat64(pool, file, path);
  if (values.length < 2) {
    throw new HttpError(422, `${path} needs at least 2 voxels to interpolate`);
  }
  return {
    first: values[0],
    step: (values[values.length - 1] - values[0]) / (values.length - 1),
    length: values.length
  };
}

/** Slab pixel (i, j) centre in HKL. */
function centreOf(grid: Grid, i: number, j: number): Vec3 {
  return [0, 1, 2].map(
    a =>
      grid.origin[a] +
      (i + 0.5) * grid.steps[0][a] +
      (j + 0.5) * grid.steps[1][a] +
      0.5 * grid.steps[2][a]
  ) as Vec3;
}

export async function cutVolume(
  pool: WorkerPool,
  file: ResolvedFile,
  group: string,
  grid: Grid
): Promise<{ v: Float64Array; n: Float64Array }> {
  // axes in voxel-array order (L, K, H) as v is stored
  const axes = await Promise.all(
    ['Ql', 'Qk', 'Qh'].map(name => axisOf(pool, file, `${group}/${name}`))
  );
  const [n0, n1] = grid.dims;
  // fractional voxel-centre index of every pixel along L, K, H
  const index = new Float64Array(3 * n0 * n1);
  const low = [Infinity, Infinity, Infinity];
  const high = [-Infinity, -Infinity, -Infinity];
  for (let j = 0; j < n1; j++) {
    for (let i = 0; i < n0; i++) {
      const h = centreOf(grid, i, j);
      for (let a = 0; a < 3; a++) {
        const axis = axes[a];
        const t = (h[2 - a] - axis.first) / axis.step - 0.5;
        index[3 * (j * n0 + i) + a] = t;
        low[a] = Math.min(low[a], t);
        high[a] = Math.max(high[a], t);
      }
    }
  }
  const v = new Float64Array(n0 * n1);
  const n = new Float64Array(n0 * n1);
  const box = axes.map((axis, a) => [
    Math.max(0, Math.min(axis.length - 1, Math.floor(low[a]))),
    Math.max(0, Math.min(axis.length - 1, Math.floor(high[a]) + 1)) + 1
  ]) as [number, number][];
  const boxShape = box.map(([start, stop]) => stop - start);
  if (boxShape[0] * boxShape[1] * boxShape[2] * 16 > MAX_BOX_BYTES) {
    throw new HttpError(413, `the plane crosses ${boxShape.join('×')} voxels; narrow its range`);
  }
  const [sums, weights] = await Promise.all(
    ['v', 'n'].map(name => readFloat64(pool, file, `${group}/${name}`, box))
  );
  const at = (l: number, k: number, h: number): number => {
    const o = ((l - box[0][0]) * boxShape[1] + (k - box[1][0])) * boxShape[2] + (h - box[2][0]);
    return weights[o] > 0 ? sums[o] / weights[o] : 0;
  };
  for (let p = 0; p < n0 * n1; p++) {
    const t = [index[3 * p], index[3 * p + 1], index[3 * p + 2]];
    if (t.some((x, a) => !(x >= 0 && x <= axes[a].length - 1))) {
      continue;
    }
    const base = t.map((x, a) => Math.min(Math.floor(x), axes[a].length - 2));
    const frac = t.map((x, a) => x - base[a]);
    let value = 0;
    for (let corner = 0; corner < 8; corner++) {
      const bits = [(corner >> 2) & 1, (corner >> 1) & 1, corner & 1];
      const weight = bits.reduce((w, b, a) => w * (b ? frac[a] : 1 - frac[a]), 1);
      if (weight !== 0) {
        value += weight * at(base[0] + bits[0], base[1] + bits[1], base[2] + bits[2]);
      }
    }
    v[p] = value;
    n[p] = 1;
  }
  return { v, n };
}
