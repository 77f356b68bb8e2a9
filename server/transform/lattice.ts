// Unit cells and their B matrices (transform-math.md §3): the direct-lattice matrix A has a, b, c
// as columns (a along x, b in the xy plane); the metric-correct B = (A⁻¹)ᵀ has a*, b*, c* as
// columns (1/Å, no 2π), so that UB = U·B and |UB·h| = 1/d.
import { inverse, matMul, transpose, type Mat3 } from './matrix.js';

export interface Lattice {
  /** Å */
  a: number;
  b: number;
  c: number;
  /** degrees */
  alpha: number;
  beta: number;
  gamma: number;
}

const RADIANS = Math.PI / 180;

export function directLatticeMatrix(l: Lattice): Mat3 {
  const [ca, cb, cg] = [l.alpha, l.beta, l.gamma].map(d => Math.cos(d * RADIANS));
  const sg = Math.sin(l.gamma * RADIANS);
  const c2 = (l.c * (ca - cb * cg)) / sg;
  const c3 = Math.sqrt(l.c * l.c - l.c * l.c * cb * cb - c2 * c2);
  return [
    [l.a, l.b * cg, l.c * cb],
    [0, l.b * sg, c2],
    [0, 0, c3]
  ];
}

export function bMatrix(l: Lattice): Mat3 {
  return transpose(inverse(directLatticeMatrix(l)));
}

/** The cell of any UB: its direct metric is ((UB)ᵀ·UB)⁻¹, whatever the orientation. */
export function latticeOfUB(ub: Mat3): Lattice {
  const g = inverse(matMul(transpose(ub), ub));
  const [a, b, c] = [0, 1, 2].map(i => Math.sqrt(g[i][i]));
  const angle = (cos: number): number => Math.acos(cos) / RADIANS;
  return {
    a,
    b,
    c,
    alpha: angle(g[1][2] / (b * c)),
    beta: angle(g[0][2] / (a * c)),
    gamma: angle(g[0][1] / (a * b))
  };
}
