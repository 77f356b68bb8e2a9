import type { BinFramesOptions } from '../../server/transform/native.js';

// A deliberately plain JS binner implementing the kernel contract (server/transform/native.ts),
// the oracle of the native kernel tests. Same operation order as the kernel, so float64 results
// must agree bit for bit.
export function referenceBin(opts: BinFramesOptions): void {
  const { frames, frameCount, pixelCount, q, maps, weights, mask, dims, v, n } = opts;
  const [n0, n1, n2] = dims;
  for (let f = 0; f < frameCount; f++) {
    const w = weights ? weights[f] : 1;
    if (!(w > 0)) {
      continue;
    }
    const m = maps.subarray(12 * f, 12 * f + 12);
    for (let p = 0; p < pixelCount; p++) {
      const value = frames[f * pixelCount + p];
      if ((mask && mask[p] !== 0) || !(value >= 0)) {
        continue;
      }
      const [qx, qy, qz] = [q[3 * p], q[3 * p + 1], q[3 * p + 2]];
      const i = Math.floor(m[0] * qx + m[1] * qy + m[2] * qz + m[9]);
      const j = Math.floor(m[3] * qx + m[4] * qy + m[5] * qz + m[10]);
      const k = Math.floor(m[6] * qx + m[7] * qy + m[8] * qz + m[11]);
      if (i >= 0 && i < n0 && j >= 0 && j < n1 && k >= 0 && k < n2) {
        const voxel = (k * n1 + j) * n0 + i;
        v[voxel] += value;
        n[voxel] += w;
      }
    }
  }
}

/** Deterministic uniform numbers in [0, 1) (mulberry32), so failures reproduce. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
