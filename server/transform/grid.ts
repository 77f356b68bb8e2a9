// The output grid and the per-frame affine maps handed to the native kernel.
// Voxel (i, j, k) = floor(u) with u = S⁻¹·(h − origin), S having the step vectors as columns;
// for the axis-aligned grid H0:H1:NH that is i = floor((H − H0)/dH), dH = (H1 − H0)/NH, and
// the voxel is labelled by its lower edge H0 + i·dH (transform-math.md §5).
import fs from 'node:fs';
import { Ajv } from 'ajv';
import schema from '../../schema/grid.schema.json' with { type: 'json' };
import { labToHkl, phiOfFrame } from './forward.js';
import type { Geometry } from './geometry.js';
import { InputError } from './input-error.js';
import { determinant, inverse, matMul, matVec, transpose, type Mat3, type Vec3 } from './matrix.js';

export interface Grid {
  origin: Vec3;
  /** voxel edge vectors in HKL */
  steps: Mat3;
  dims: [number, number, number];
}

const validateSchema = new Ajv({ allErrors: true }).compile<Grid>(schema);

function checked(grid: Grid, source: string): Grid {
  if ([...grid.origin, ...grid.steps.flat()].some(v => !Number.isFinite(v))) {
    throw new InputError(`grid ${source}: origin and steps must be finite numbers`);
  }
  const lengths = grid.steps.map(s => Math.hypot(...s));
  if (!(Math.abs(determinant(grid.steps)) > 1e-12 * lengths[0] * lengths[1] * lengths[2])) {
    throw new InputError(
      `grid ${source}: the step vectors must be non-zero and linearly independent`
    );
  }
  return grid;
}

/** "H0:H1:NH,K0:K1:NK,L0:L1:NL", or the path of a JSON file in the general form (schema/grid.schema.json). */
export function parseGrid(spec: string): Grid {
  if (spec.endsWith('.json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(spec, 'utf8'));
    } catch (e) {
      throw new InputError(`cannot read grid file ${spec}: ${(e as Error).message}`);
    }
    if (!validateSchema(parsed)) {
      const problems = (validateSchema.errors ?? []).map(
        e => `${e.instancePath || 'grid'} ${e.message ?? ''}`
      );
      throw new InputError(`invalid grid in ${spec}: ${problems.join('; ')}`);
    }
    return checked(parsed, spec);
  }
  const axes = spec.split(',').map(a => a.split(':'));
  const numeric = (s: string): number => (s.trim() === '' ? NaN : Number(s));
  if (
    axes.length !== 3 ||
    axes.some(a => a.length !== 3 || a.some(s => Number.isNaN(numeric(s))))
  ) {
    throw new InputError(
      `grid "${spec}" must be H0:H1:NH,K0:K1:NK,L0:L1:NL (numbers), or a .json grid file`
    );
  }
  const [lo, hi, n] = [0, 1, 2].map(c => axes.map(a => numeric(a[c])));
  if (n.some(v => !Number.isInteger(v) || v < 1) || hi.some((h, i) => !(h > lo[i]))) {
    throw new InputError(
      `grid "${spec}": each axis needs start < end and a whole number of voxels ≥ 1`
    );
  }
  const step = (i: number): number => (hi[i] - lo[i]) / n[i];
  return checked(
    {
      origin: lo as Vec3,
      steps: [
        [step(0), 0, 0],
        [0, step(1), 0],
        [0, 0, step(2)]
      ],
      dims: n as [number, number, number]
    },
    `"${spec}"`
  );
}

export function voxelCount(grid: Grid): number {
  return grid.dims[0] * grid.dims[1] * grid.dims[2];
}

export function isAxisAligned(grid: Grid): boolean {
  return grid.steps.every((s, i) => s.every((v, j) => i === j || v === 0));
}

/** Lower edges of the voxels along axis `axis` of an axis-aligned grid. */
export function lowerEdges(grid: Grid, axis: 0 | 1 | 2): Float64Array {
  return Float64Array.from(
    { length: grid.dims[axis] },
    (_, i) => grid.origin[axis] + i * grid.steps[axis][axis]
  );
}

/**
 * Per frame z in [first, first + count): A (3×3 row-major) then b, such that the fractional
 * grid coordinates of a pixel with lab-frame scattering vector q are u = A·q + b.
 */
export function frameMaps(g: Geometry, grid: Grid, first: number, count: number): Float64Array {
  // steps are rows of grid.steps; S has them as columns
  const stepsInverse = inverse(transpose(grid.steps));
  const shift = matVec(stepsInverse, grid.origin).map(v => -v);
  const maps = new Float64Array(12 * count);
  for (let f = 0; f < count; f++) {
    const a = matMul(stepsInverse, labToHkl(g, phiOfFrame(g, first + f)));
    maps.set([...a.flat(), ...shift], 12 * f);
  }
  return maps;
}
