// Which pixels of which frames can land in a thin slab, from the inverse mapping (§6 of
// transform-math.md) applied per pixel: the slab's across coordinate of pixel p at angle φ is
// u₂(φ) = α_p·cos φ + β_p·sin φ + γ_p, so 0 ≤ u₂ < 1 holds on at most two φ intervals per pixel,
// found in closed form. Frames outside every interval are never read; within a frame only the
// row spans [x0, x1] that can contribute are handed to the kernel. The bound is conservative
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

export function slabFrameRegions(
  g: Geometry,
  grid: Grid,
  q: Float64Array,
  scan: { frames: number; rows: number; cols: number }
): FrameRegions {
  const { frames, rows, cols } = scan;
  // u = S⁻¹·(UB⁻¹·Rz(φ)ᵀ·A_gᵀ·q − origin); c = third row of S⁻¹·UB⁻¹, p = A_gᵀ·q
  const stepsInverse = inverse(transpose(grid.steps));
  const c = matMul(stepsInverse, inverse(g.ub_matrix))[2];
  const shift = -matVec(stepsInverse, grid.origin)[2];
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
    let f = Math.max(0, first);
    const end = Math.min(frames - 1, last);
    while (f <= end) {
      if (f % BLOCK === 0 && f + BLOCK - 1 <= end) {
        mark(blockSpans, f / BLOCK, y, x);
        f += BLOCK;
      } else {
        mark(spans, f, y, x);
        f++;
      }
    }
  };

  const phiFirst = g.phi_start;
  const phiEnd = g.phi_start + g.phi_step * frames;
  const [phiMin, phiMax] = [Math.min(phiFirst, phiEnd), Math.max(phiFirst, phiEnd)];
  // φ interval [a, b] (degrees) and its 360° repeats → frames, widened by one each side
  const markPhi = (a: number, b: number, y: number, x: number): void => {
    for (let m = Math.ceil((phiMin - b) / 360); m <= Math.floor((phiMax - a) / 360); m++) {
      const fa = (a + 360 * m - g.phi_start) / g.phi_step;
      const fb = (b + 360 * m - g.phi_start) / g.phi_step;
      markFrames(Math.floor(Math.min(fa, fb)) - 1, Math.ceil(Math.max(fa, fb)) + 1, y, x);
    }
  };

  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      const o = 3 * (y * cols + x);
      const p = matVec(toSample, [q[o], q[o + 1], q[o + 2]]);
      const alpha = c[0] * p[0] + c[1] * p[1];
      const beta = c[0] * p[1] - c[1] * p[0];
      const gamma = c[2] * p[2] + shift;
      const radius = Math.hypot(alpha, beta);
      const low = (-MARGIN - gamma) / radius;
      const high = (1 + MARGIN - gamma) / radius;
      if (!(radius > 0)) {
        // on the φ axis: the same voxel in every frame
        if (gamma >= -MARGIN && gamma < 1 + MARGIN) {
          markFrames(0, frames - 1, y, x);
        }
        continue;
      }
      if (low > 1 || high < -1) {
        continue;
      }
      const centre = Math.atan2(beta, alpha) * DEGREES;
      const near = Math.acos(Math.min(1, high)) * DEGREES;
      const far = Math.acos(Math.max(-1, low)) * DEGREES;
      markPhi(centre + near, centre + far, y, x);
      markPhi(centre - far, centre - near, y, x);
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
