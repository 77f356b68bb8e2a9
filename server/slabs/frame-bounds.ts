// Which pixels of which frames can land in a thin slab, from the inverse mapping (§6 of
// transform-math.md) applied per pixel: the slab's across coordinate of pixel p at angle φ is
// u₂(φ) = α_p·cos φ + β_p·sin φ + γ_p, so 0 ≤ u₂ < 1 holds on at most two φ intervals per pixel,
// found in closed form. Frames outside every interval are never read; within a frame only the
// row spans [x0, x1] that can contribute are handed to the kernel. The in-plane coordinates
// u₀ ∈ [0, N0), u₁ ∈ [0, N1) follow the same form and narrow the intervals further. The bound is conservative
// (a margin in u₂ and one frame either side): the kernel decides exactly which samples land.
import type { Geometry } from '../transform/geometry.js';
import { goniometerBase } from '../transform/forward.js';
import type { Grid } from '../transform/grid.js';
import { inverse, matMul, matVec, transpose } from '../transform/matrix.js';

/** Per frame and detector row: first and last column that can contribute (x0 > x1: none). */
export class FrameRegions {
  constructor(
    readonly frames: number,
    readonly rows: number,
    readonly cols: number,
    /** (frame·rows + y)·2 → x0, x1 */
    readonly spans: Int32Array
  ) {}

  /** Frames with at least one pixel that can contribute, ascending. */
  contributingFrames(): number[] {
    const result: number[] = [];
    for (let f = 0; f < this.frames; f++) {
      for (let y = 0; y < this.rows; y++) {
        const i = 2 * (f * this.rows + y);
        if (this.spans[i] <= this.spans[i + 1]) {
          result.push(f);
          break;
        }
      }
    }
    return result;
  }

  /** Union of the spans of these frames: the detector pixels (y·cols + x) a batch needs. */
  pixelsOf(frames: number[]): Int32Array {
    const lo = new Int32Array(this.rows).fill(this.cols);
    const hi = new Int32Array(this.rows).fill(-1);
    for (const f of frames) {
      for (let y = 0; y < this.rows; y++) {
        const i = 2 * (f * this.rows + y);
        lo[y] = Math.min(lo[y], this.spans[i]);
        hi[y] = Math.max(hi[y], this.spans[i + 1]);
      }
    }
    let count = 0;
    for (let y = 0; y < this.rows; y++) {
      count += Math.max(0, hi[y] - lo[y] + 1);
    }
    const pixels = new Int32Array(count);
    let k = 0;
    for (let y = 0; y < this.rows; y++) {
      for (let x = lo[y]; x <= hi[y]; x++) {
        pixels[k++] = y * this.cols + x;
      }
    }
    return pixels;
  }
}

/** Slack on u₂ so that rounding in the kernel's A·q + b never falls outside the bound. */
const MARGIN = 1e-6;
/** Frames per block: a pixel that stays in the slab for long is recorded once per block. */
const BLOCK = 32;
const DEGREES = 180 / Math.PI;

/** Frame intervals [first, last] where lo ≤ α·cos φ + β·sin φ + γ ≤ hi, within the scan. */
function frameIntervals(
  g: Geometry,
  frames: number,
  alpha: number,
  beta: number,
  gamma: number,
  hi: number
): number[] {
  const radius = Math.hypot(alpha, beta);
  const low = (-MARGIN - gamma) / radius;
  const high = (hi + MARGIN - gamma) / radius;
  if (!(radius > 0)) {
    // on the φ axis: the same voxel in every frame
    return gamma >= -MARGIN && gamma < hi + MARGIN ? [0, frames - 1] : [];
  }
  if (low > 1 || high < -1) {
    return [];
  }
  const centre = Math.atan2(beta, alpha) * DEGREES;
  const near = Math.acos(Math.min(1, high)) * DEGREES;
  const far = Math.acos(Math.max(-1, low)) * DEGREES;
  const phiEnd = g.phi_start + g.phi_step * frames;
  const [phiMin, phiMax] = [Math.min(g.phi_start, phiEnd), Math.max(g.phi_start, phiEnd)];
  const result: number[] = [];
  for (const [a, b] of [
    [centre + near, centre + far],
    [centre - far, centre - near]
  ]) {
    for (let m = Math.ceil((phiMin - b) / 360); m <= Math.floor((phiMax - a) / 360); m++) {
      const fa = (a + 360 * m - g.phi_start) / g.phi_step;
      const fb = (b + 360 * m - g.phi_start) / g.phi_step;
      const first = Math.max(0, Math.floor(Math.min(fa, fb)) - 1);
      const last = Math.min(frames - 1, Math.ceil(Math.max(fa, fb)) + 1);
      if (first <= last) {
        result.push(first, last);
      }
    }
  }
  return result;
}

/** Frames in both interval lists, as intervals. */
function intersect(a: number[], b: number[]): number[] {
  const result: number[] = [];
  for (let i = 0; i < a.length; i += 2) {
    for (let j = 0; j < b.length; j += 2) {
      const first = Math.max(a[i], b[j]);
      const last = Math.min(a[i + 1], b[j + 1]);
      if (first <= last) {
        result.push(first, last);
      }
    }
  }
  return result;
}

export function slabFrameRegions(
  g: Geometry,
  grid: Grid,
  q: Float64Array,
  scan: { frames: number; rows: number; cols: number }
): FrameRegions {
  const { frames, rows, cols } = scan;
  // u = S⁻¹·(UB⁻¹·Rz(φ)ᵀ·A_gᵀ·q − origin); row a of S⁻¹·UB⁻¹ is c[a], p = A_gᵀ·q
  const stepsInverse = inverse(transpose(grid.steps));
  const c = matMul(stepsInverse, inverse(g.ub_matrix));
  const shift = matVec(stepsInverse, grid.origin).map(x => -x);
  const toSample = transpose(goniometerBase(g));

  const spans = new Int32Array(2 * frames * rows);
  const blocks = Math.ceil(frames / BLOCK);
  const blockSpans = new Int32Array(2 * blocks * rows);
  for (const s of [spans, blockSpans]) {
    for (let i = 0; i < s.length; i += 2) {
      s[i] = cols;
      s[i + 1] = -1;
    }
  }
  const mark = (target: Int32Array, index: number, y: number, x: number): void => {
    const i = 2 * (index * rows + y);
    if (x < target[i]) {
      target[i] = x;
    }
    if (x > target[i + 1]) {
      target[i + 1] = x;
    }
  };
  const markFrames = (first: number, last: number, y: number, x: number): void => {
    let f = first;
    while (f <= last) {
      if (f % BLOCK === 0 && f + BLOCK - 1 <= last) {
        mark(blockSpans, f / BLOCK, y, x);
        f += BLOCK;
      } else {
        mark(spans, f, y, x);
        f++;
      }
    }
  };
  // the across coordinate first: it is the one that rules out most pixels
  const order = [2, 0, 1];
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      const o = 3 * (y * cols + x);
      const p = matVec(toSample, [q[o], q[o + 1], q[o + 2]]);
      let allowed: number[] | undefined;
      for (const a of order) {
        const ca = c[a];
        const intervals = frameIntervals(
          g,
          frames,
          ca[0] * p[0] + ca[1] * p[1],
          ca[0] * p[1] - ca[1] * p[0],
          ca[2] * p[2] + shift[a],
          grid.dims[a]
        );
        allowed = allowed === undefined ? intervals : intersect(allowed, intervals);
        if (allowed.length === 0) {
          break;
        }
      }
      for (let i = 0; i < allowed!.length; i += 2) {
        markFrames(allowed![i], allowed![i + 1], y, x);
      }
    }
  }
  for (let f = 0; f < frames; f++) {
    const block = Math.floor(f / BLOCK);
    for (let y = 0; y < rows; y++) {
      const i = 2 * (f * rows + y);
      const j = 2 * (block * rows + y);
      spans[i] = Math.min(spans[i], blockSpans[j]);
      spans[i + 1] = Math.max(spans[i + 1], blockSpans[j + 1]);
    }
  }
  return new FrameRegions(frames, rows, cols, spans);
}
