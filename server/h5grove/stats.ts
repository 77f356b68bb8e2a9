import type { StatsResult } from '../../src/protocol/h5grove.js';
import type { NumericValues } from './numeric.js';
import { toNumber } from './numeric.js';

// /stats (h5grove-protocol.md §2): non-finite values dropped, population std.

export function computeStats(values: NumericValues, isFloat: boolean): StatsResult {
  let n = 0;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let spMin = Infinity;
  let pMin = Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = toNumber(values[i]);
    if (!Number.isFinite(v)) {
      continue;
    }
    n++;
    sum += v;
    if (v < min) {
      min = v;
    }
    if (v > max) {
      max = v;
    }
    if (v > 0 && v < spMin) {
      spMin = v;
    }
    if (v >= 0 && v < pMin) {
      pMin = v;
    }
  }
  if (n === 0) {
    return {
      strict_positive_min: null,
      positive_min: null,
      min: null,
      max: null,
      mean: null,
      std: null
    };
  }
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < values.length; i++) {
    const v = toNumber(values[i]);
    if (Number.isFinite(v)) {
      sq += (v - mean) ** 2;
    }
  }
  const cast = (v: number): number | null =>
    Number.isFinite(v) ? (isFloat ? v : Math.trunc(v)) : null;
  return {
    strict_positive_min: cast(spMin),
    positive_min: cast(pMin),
    min: cast(min),
    max: cast(max),
    // the reference casts every statistic of integer data to int, mean and std included
    mean: cast(mean),
    std: cast(Math.sqrt(sq / n))
  };
}
