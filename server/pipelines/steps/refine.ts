// refine: orientation (UB) and lattice by least squares against the found peaks, starting from
// scan.json's ub_matrix and lattice. Each iteration indexes the peaks with the current UB
// (nearest integer HKL within a tolerance), solves the linear least-squares problem
// UB·h_i ≈ q_i (q_i = the peak's scattering vector in the sample frame) for a free UB, projects
// its cell onto the starting cell's lattice system and takes the nearest rotation as U. The
// instrument geometry is held fixed. Writes nexus/refine.nxs and nexus/geometry.json.
import { Dataset, Group } from 'h5wasm/node';
import { Matrix, SingularValueDecomposition, solve } from 'ml-matrix';
import {
  detectorToLab,
  goniometerBase,
  phiOfFrame,
  scatteringVector
} from '../../transform/forward.js';
import type { Geometry } from '../../transform/geometry.js';
import { initHdf5, openForReading } from '../../transform/hdf5-access.js';
import { InputError } from '../../transform/input-error.js';
import { bMatrix, latticeOfUB, type Lattice } from '../../transform/lattice.js';
import {
  determinant,
  inverse,
  matMul,
  matVec,
  rotZ,
  transpose,
  type Mat3,
  type Vec3
} from '../../transform/matrix.js';
import { ensureGroup } from '../../transform/nexus-output.js';
import { latticeSystemOf, symmetrize, type LatticeSystem } from './cell-symmetry.js';
import { progress, writeJsonFile, writeNexusFile, writeProcess } from './output.js';
import { initialSettings, requireInput, scanPaths } from './scan.js';
import { writeScanSettings } from './settings-nexus.js';

export interface RefineOptions {
  /** largest |h − round(h)| per index for a peak to count as indexed */
  tolerance: number;
  iterations: number;
  symmetry: LatticeSystem | 'auto';
}

/** Fewer indexed peaks than this cannot pin down 9 UB elements with any redundancy. */
const MIN_INDEXED = 6;
/**
 * Once fitted, a peak further than this many median residuals from its HKL is an outlier
 * (a reflection near the rotation axis smeared over many frames, a peak split by noise): the
 * tolerance shrinks towards it, iteration by iteration, so the fit converges on the good peaks.
 */
const OUTLIER_MEDIANS = 3;
const MIN_TOLERANCE = 0.01;
/** Below this share of indexed peaks the result deserves a warning in the log. */
const LOW_INDEXED_SHARE = 0.25;
/**
 * The first iterations fit only the better half of the indexed peaks (least trimmed squares):
 * starting 0.5° off, a fit of every peak within the tolerance settles on a compromise that
 * outliers pull, while the better half converges onto the good peaks.
 */
const TRIMMED_ITERATIONS = 5;
const TRIMMED_SHARE = 0.5;
const DEGREES = 180 / Math.PI;

interface Indexing {
  /** peak numbers */
  peaks: number[];
  hkl: Vec3[];
  /** |h_obs − h_int| of each indexed peak */
  residuals: number[];
  /** h_obs of every peak */
  observed: Vec3[];
}

function readPeaks(file: string): { x: number; y: number; z: number }[] {
  const root = openForReading(file);
  try {
    const column = (name: string): number[] => {
      const ds = root.get(`entry/peaks/${name}`);
      if (!(ds instanceof Dataset)) {
        throw new InputError(`${file} has no entry/peaks/${name}; rerun the find step`);
      }
      return Array.from(ds.value as ArrayLike<number>);
    };
    const [x, y, z] = ['x', 'y', 'z'].map(column);
    return x.map((_, i) => ({ x: x[i], y: y[i], z: z[i] }));
  } finally {
    root.close();
  }
}

/** q of each peak in the sample frame: G(φ)ᵀ·q_lab, independent of UB. */
function sampleVectors(g: Geometry, peaks: { x: number; y: number; z: number }[]): Vec3[] {
  const toLab = detectorToLab(g);
  const base = goniometerBase(g);
  return peaks.map(p =>
    matVec(transpose(matMul(base, rotZ(phiOfFrame(g, p.z)))), scatteringVector(g, toLab, p.x, p.y))
  );
}

function index(ub: Mat3, q: Vec3[], tolerance: number): Indexing {
  const toHkl = inverse(ub);
  const result: Indexing = { peaks: [], hkl: [], residuals: [], observed: [] };
  q.forEach((qs, i) => {
    const h = matVec(toHkl, qs);
    const nearest = h.map(Math.round) as Vec3;
    const offsets = h.map((v, j) => v - nearest[j]);
    result.observed.push(h);
    if (nearest.some(v => v !== 0) && offsets.every(d => Math.abs(d) <= tolerance)) {
      result.peaks.push(i);
      result.hkl.push(nearest);
      result.residuals.push(Math.hypot(...offsets));
    }
  });
  return result;
}

function fitSet(indexing: Indexing, trimmed: boolean): Indexing {
  if (!trimmed) {
    return indexing;
  }
  const order = indexing.residuals.map((r, i) => [r, i]).sort((a, b) => a[0] - b[0]);
  const keep = order
    .slice(0, Math.max(MIN_INDEXED, Math.ceil(order.length * TRIMMED_SHARE)))
    .map(([, i]) => i)
    .sort((a, b) => a - b);
  return {
    peaks: keep.map(i => indexing.peaks[i]),
    hkl: keep.map(i => indexing.hkl[i]),
    residuals: keep.map(i => indexing.residuals[i]),
    observed: indexing.observed
  };
}

/** Least-squares UB of H·UBᵀ ≈ Q (one row per indexed peak). */
function freeFit(indexing: Indexing, q: Vec3[]): Mat3 {
  const h = new Matrix(indexing.hkl);
  const qs = new Matrix(indexing.peaks.map(i => q[i]));
  return transpose(solve(h, qs).to2DArray() as Mat3);
}

/** The rotation nearest to m (polar decomposition through the SVD). */
function nearestRotation(m: Mat3): Mat3 {
  const svd = new SingularValueDecomposition(new Matrix(m));
  const rotation = svd.leftSingularVectors.mmul(svd.rightSingularVectors.transpose());
  const r = rotation.to2DArray() as Mat3;
  if (determinant(r) < 0) {
    throw new InputError('the fitted UB is left-handed; check the indexing tolerance');
  }
  return r;
}

function rotationAngle(a: Mat3, b: Mat3): number {
  const r = matMul(a, transpose(b));
  const cos = (r[0][0] + r[1][1] + r[2][2] - 1) / 2;
  return Math.acos(Math.max(-1, Math.min(1, cos))) * DEGREES;
}

const rms = (values: number[]): number =>
  Math.sqrt(values.reduce((s, v) => s + v * v, 0) / Math.max(values.length, 1));

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};

export async function refine(scanDir: string, options: RefineOptions, command: string) {
  const paths = scanPaths(scanDir);
  const initial = initialSettings(paths);
  requireInput(paths.peaks, 'find');
  await initHdf5();
  const { geometry } = initial;
  const peaks = readPeaks(paths.peaks);
  const system = options.symmetry === 'auto' ? latticeSystemOf(initial.lattice) : options.symmetry;
  const q = sampleVectors(geometry, peaks);
  const initialU = nearestRotation(matMul(geometry.ub_matrix, inverse(bMatrix(initial.lattice))));

  let ub = geometry.ub_matrix;
  let lattice: Lattice = initial.lattice;
  let tolerance = options.tolerance;
  let indexing = index(ub, q, tolerance);
  for (let iteration = 1; iteration <= options.iterations; iteration++) {
    const used = fitSet(indexing, iteration <= TRIMMED_ITERATIONS);
    if (used.peaks.length < MIN_INDEXED) {
      throw new InputError(
        `only ${used.peaks.length} of ${peaks.length} peaks lie within ${tolerance} of integer HKL ` +
          `(at least ${MIN_INDEXED} needed); check ub_matrix and lattice in scan.json or raise --tolerance`
      );
    }
    const free = freeFit(used, q);
    lattice = symmetrize(latticeOfUB(free), system);
    const b = bMatrix(lattice);
    const refined = matMul(nearestRotation(matMul(free, inverse(b))), b);
    const change = Math.max(...refined.flat().map((v, i) => Math.abs(v - ub.flat()[i])));
    ub = refined;
    tolerance = Math.min(
      options.tolerance,
      Math.max(MIN_TOLERANCE, OUTLIER_MEDIANS * median(index(ub, q, options.tolerance).residuals))
    );
    const next = index(ub, q, tolerance);
    progress(
      'refine',
      `iteration ${iteration}: ${used.peaks.length} peaks fitted, ${next.peaks.length}/${peaks.length} ` +
        `within ${tolerance.toFixed(3)}, rms ΔHKL ${rms(next.residuals).toExponential(2)}`
    );
    const sameSet = next.peaks.join() === indexing.peaks.join();
    indexing = next;
    if (iteration > TRIMMED_ITERATIONS && sameSet && change < 1e-12) {
      break;
    }
  }
  if (indexing.peaks.length < LOW_INDEXED_SHARE * peaks.length) {
    progress(
      'refine',
      `warning: only ${indexing.peaks.length} of ${peaks.length} peaks indexed; many found peaks are ` +
        'not Bragg peaks of this lattice (is the find threshold above the background?)'
    );
  }
  const u = nearestRotation(matMul(ub, inverse(bMatrix(lattice))));
  const summary = {
    indexed: indexing.peaks.length,
    peaks: peaks.length,
    rmsDeltaHkl: rms(indexing.residuals),
    tolerance,
    rotationFromInitial: rotationAngle(u, initialU),
    latticeSystem: system
  };
  const refinedGeometry: Geometry = { ...geometry, ub_matrix: ub };
  await writeNexusFile(paths.refine, entry => {
    const result = ensureGroup(entry, 'refinement', 'NXcollection');
    const matrix = (name: string, m: Mat3): Dataset =>
      result.create_dataset({ name, data: new Float64Array(m.flat()), shape: [3, 3] });
    matrix('ub_matrix', ub);
    matrix('initial_ub_matrix', geometry.ub_matrix);
    result.create_dataset({ name: 'rms_delta_hkl', data: summary.rmsDeltaHkl });
    result.create_dataset({ name: 'indexed', data: summary.indexed });
    result.create_dataset({ name: 'peaks', data: summary.peaks });
    result.create_dataset({ name: 'tolerance', data: tolerance });
    result
      .create_dataset({ name: 'rotation_from_initial', data: summary.rotationFromInitial })
      .create_attribute('units', 'degree');
    result.create_dataset({ name: 'lattice_system', data: system });
    result.create_dataset({
      name: 'observed_hkl',
      data: new Float64Array(indexing.observed.flat()),
      shape: [peaks.length, 3]
    });
    const flags = new Uint8Array(peaks.length);
    indexing.peaks.forEach(i => (flags[i] = 1));
    result.create_dataset({ name: 'peak_indexed', data: flags });
    writeScanSettings(entry, { geometry: refinedGeometry, lattice });
    writeProcess(entry as Group, {
      step: 'refine',
      command,
      parameters: { ...options, latticeSystem: system },
      inputs: [paths.settings, paths.peaks]
    });
  });
  writeJsonFile(paths.refinedGeometry, { ...refinedGeometry, lattice });
  progress(
    'refine',
    `${summary.indexed}/${summary.peaks} peaks indexed, rms ΔHKL ${summary.rmsDeltaHkl.toExponential(2)}, ` +
      `orientation moved ${summary.rotationFromInitial.toFixed(3)}°, lattice ${JSON.stringify(lattice)}`
  );
}
