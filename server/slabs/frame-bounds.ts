// Which pixels of which frames can land in a thin slab, from the inverse mapping (§6 of
// transform-math.md) applied per pixel: the slab's across coordinate of pixel p at angle φ is
// u₂(φ) = α_p·cos φ + β_p·sin φ + γ_p, so 0 ≤ u₂ < 1 holds on at most two φ intervals per pixel,
// found in closed form. Within those frames the in-plane coordinates u₀, u₁ are evaluated with
// the kernel's own per-frame maps. Frames outside every interval are never read; within a frame
// only the row spans [x0, x1] that can contribute are handed to the kernel. The bound is
// conservative (margins, one frame either side): the kernel decides exactly which samples land.
// The work yields to the event loop every few rows: a Pilatus 2M has 2.5 million pixels.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Geometry } from '../transform/geometry.js';
import { goniometerBase } from '../transform/forward.js';
import { frameMaps, type Grid } from '../transform/grid.js';
import { inverse, matMul, matVec, transpose } from '../transform/matrix.js';

/** Per frame and detector row: first and last column that can contribute (x0 > x1: none). */
export class FrameRegions {
  /** (frame·rows + y)·2 → x0, x1 */
  readonly spans: Int32Array;

  constructor(
    readonly frames: number,
    readonly rows: number,
    readonly cols: number
  ) {
    this.spans = emptySpans(frames, rows, cols);
  }

  hasPixels(frame: number): boolean {
    for (let y = 0; y < this.rows; y++) {
      const i = 2 * (frame * this.rows + y);
      if (this.spans[i] <= this.spans[i + 1]) {
        return true;
      }
    }
    return false;
  }

  /** Frames with at least one pixel that can contribute, ascending. */
  contributingFrames(): number[] {
    return Array.from({ length: this.frames }, (_, f) => f).filter(f => this.hasPixels(f));
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

/** Slack on grid coordinates so that rounding in the kernel's A·q + b never falls outside. */
const MARGIN = 1e-6;
/** Frames per block: a pixel that stays in the slab for long is recorded once per block. */
const BLOCK = 32;
/** A pixel in the slab for more frames than this is kept for all of them without checking u₀, u₁. */
const CHECKED_FRAMES = 64;
const ROWS_PER_SLICE = 32;
const DEGREES = 180 / Math.PI;

function emptySpans(frames: number, rows: number, cols: number): Int32Array {
  const spans = new Int32Array(2 * frames * rows);
  for (let i = 0; i < spans.length; i += 2) {
    spans[i] = cols;
    spans[i + 1] = -1;
  }
  return spans;
}

/**
 * The exact spans of a few frames, by mapping every pixel with the kernel's own per-frame map
 * (with the same margin): cheaper than the inverse bound for a handful of frames, so that the
 * coarse pass can start reading while the bound of all frames is still being computed.
 */
export async function frameRegionsOf(
  g: Geometry,
  grid: Grid,
  q: Float64Array,
  scan: { frames: number; rows: number; cols: number },
  frames: number[],
  signal?: AbortSignal,
  /** called as soon as a frame is known to have pixels in the slab (to start reading it) */
  onFrame?: (frame: number) => void
): Promise<FrameRegions> {
  const { rows, cols } = scan;
  const regions = new FrameRegions(scan.frames, rows, cols);
  const [n0, n1, n2] = grid.dims;
  for (const f of frames) {
    await yieldToEventLoop();
    signal?.throwIfAborted();
    const m = frameMaps(g, grid, f, 1);
    for (let y = 0; y < rows; y++) {
      const i = 2 * (f * rows + y);
      for (let x = 0; x < cols; x++) {
        const o = 3 * (y * cols + x);
        // the across coordinate first: it rules out nearly every pixel of a thin slab
        const u2 = m[6] * q[o] + m[7] * q[o + 1] + m[8] * q[o + 2] + m[11];
        if (!(u2 >= -MARGIN && u2 < n2 + MARGIN)) {
          continue;
        }
        const u0 = m[0] * q[o] + m[1] * q[o + 1] + m[2] * q[o + 2] + m[9];
        const u1 = m[3] * q[o] + m[4] * q[o + 1] + m[5] * q[o + 2] + m[10];
        if (u0 >= -MARGIN && u0 < n0 + MARGIN && u1 >= -MARGIN && u1 < n1 + MARGIN) {
          regions.spans[i] = Math.min(regions.spans[i], x);
          regions.spans[i + 1] = Math.max(regions.spans[i + 1], x);
        }
      }
    }
    if (regions.hasPixels(f)) {
      onFrame?.(f);
    }
  }
  return regions;
}

export async function slabFrameRegions(
  g: Geometry,
  grid: Grid,
  q: Float64Array,
  scan: { frames: number; rows: number; cols: number },
  signal?: AbortSignal
): Promise<FrameRegions> {
  const { frames, rows, cols } = scan;
  const [n0, n1] = grid.dims;
  // u = S⁻¹·(UB⁻¹·Rz(φ)ᵀ·A_gᵀ·q − origin); c = third row of S⁻¹·UB⁻¹, p = A_gᵀ·q
  const stepsInverse = inverse(transpose(grid.steps));
  const [c0, c1, c2] = matMul(stepsInverse, inverse(g.ub_matrix))[2];
  const shift = -matVec(stepsInverse, grid.origin)[2];
  const t = transpose(goniometerBase(g));
  const maps = frameMaps(g, grid, 0, frames);
  const phiEnd = g.phi_start + g.phi_step * frames;
  const phiMin = Math.min(g.phi_start, phiEnd);
  const phiMax = Math.max(g.phi_start, phiEnd);

  const regions = new FrameRegions(frames, rows, cols);
  const spans = regions.spans;
  const blockSpans = emptySpans(Math.ceil(frames / BLOCK), rows, cols);
  const mark = (target: Int32Array, index: number, y: number, x: number): void => {
    const i = 2 * (index * rows + y);
    if (x < target[i]) {
      target[i] = x;
    }
    if (x > target[i + 1]) {
      target[i + 1] = x;
    }
  };
  const inPlane = (f: number, qx: number, qy: number, qz: number): boolean => {
    const m = 12 * f;
    const u0 = maps[m] * qx + maps[m + 1] * qy + maps[m + 2] * qz + maps[m + 9];
    const u1 = maps[m + 3] * qx + maps[m + 4] * qy + maps[m + 5] * qz + maps[m + 10];
    return u0 >= -MARGIN && u0 < n0 + MARGIN && u1 >= -MARGIN && u1 < n1 + MARGIN;
  };
  const markFrames = (first: number, last: number, y: number, x: number, o: number): void => {
    first = Math.max(0, first);
    last = Math.min(frames - 1, last);
    if (last - first < CHECKED_FRAMES) {
      for (let f = first; f <= last; f++) {
        if (inPlane(f, q[o], q[o + 1], q[o + 2])) {
          mark(spans, f, y, x);
        }
      }
      return;
    }
    for (let f = first; f <= last;) {
      if (f % BLOCK === 0 && f + BLOCK - 1 <= last) {
        mark(blockSpans, f / BLOCK, y, x);
        f += BLOCK;
      } else {
        mark(spans, f, y, x);
        f++;
      }
    }
  };
  // φ interval [a, b] (degrees) and its 360° repeats → frames, widened by one each side
  const markPhi = (a: number, b: number, y: number, x: number, o: number): void => {
    for (let m = Math.ceil((phiMin - b) / 360); m <= Math.floor((phiMax - a) / 360); m++) {
      const fa = (a + 360 * m - g.phi_start) / g.phi_step;
      const fb = (b + 360 * m - g.phi_start) / g.phi_step;
      markFrames(Math.floor(Math.min(fa, fb)) - 1, Math.ceil(Math.max(fa, fb)) + 1, y, x, o);
    }
  };

  for (let y = 0; y < rows; y++) {
    if (y % ROWS_PER_SLICE === 0 && y > 0) {
      await yieldToEventLoop();
      signal?.throwIfAborted();
    }
    for (let x = 0; x < cols; x++) {
      const o = 3 * (y * cols + x);
      const p0 = t[0][0] * q[o] + t[0][1] * q[o + 1] + t[0][2] * q[o + 2];
      const p1 = t[1][0] * q[o] + t[1][1] * q[o + 1] + t[1][2] * q[o + 2];
      const p2 = t[2][0] * q[o] + t[2][1] * q[o + 1] + t[2][2] * q[o + 2];
      const alpha = c0 * p0 + c1 * p1;
      const beta = c0 * p1 - c1 * p0;
      const gamma = c2 * p2 + shift;
      const radius = Math.hypot(alpha, beta);
      if (!(radius > 0)) {
        // on the φ axis: the same across coordinate in every frame
        if (gamma >= -MARGIN && gamma < 1 + MARGIN) {
          markFrames(0, frames - 1, y, x, o);
        }
        continue;
      }
      const low = (-MARGIN - gamma) / radius;
      const high = (1 + MARGIN - gamma) / radius;
      if (low > 1 || high < -1) {
        continue;
      }
      const centre = Math.atan2(beta, alpha) * DEGREES;
      const near = Math.acos(Math.min(1, high)) * DEGREES;
      const far = Math.acos(Math.max(-1, low)) * DEGREES;
      markPhi(centre + near, centre + far, y, x, o);
      markPhi(centre - far, centre - near, y, x, o);
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
  return regions;
}
