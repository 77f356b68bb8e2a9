// The lattice system of a cell, read off the starting lattice, and the projection of a freely
// refined cell onto it (equal lengths averaged, fixed angles set), so that refinement keeps the
// crystal's symmetry.
import type { Lattice } from '../../transform/lattice.js';

export const LATTICE_SYSTEMS = [
  'cubic',
  'tetragonal',
  'orthorhombic',
  'hexagonal',
  'rhombohedral',
  'monoclinic',
  'triclinic'
] as const;

export type LatticeSystem = (typeof LATTICE_SYSTEMS)[number];

const LENGTH_TOLERANCE = 1e-4;
const ANGLE_TOLERANCE = 0.01;

const sameLength = (x: number, y: number): boolean =>
  Math.abs(x - y) <= LENGTH_TOLERANCE * Math.max(x, y);
const sameAngle = (x: number, y: number): boolean => Math.abs(x - y) <= ANGLE_TOLERANCE;
const mean = (...values: number[]): number => values.reduce((s, v) => s + v, 0) / values.length;

/** The highest-symmetry system the cell's metric satisfies (b-unique monoclinic). */
export function latticeSystemOf(l: Lattice): LatticeSystem {
  const rightAngles = [l.alpha, l.beta, l.gamma].map(d => sameAngle(d, 90));
  const abEqual = sameLength(l.a, l.b);
  const allEqual = abEqual && sameLength(l.b, l.c);
  if (rightAngles.every(Boolean)) {
    return allEqual ? 'cubic' : abEqual ? 'tetragonal' : 'orthorhombic';
  }
  if (rightAngles[0] && rightAngles[1] && sameAngle(l.gamma, 120) && abEqual) {
    return 'hexagonal';
  }
  if (allEqual && sameAngle(l.alpha, l.beta) && sameAngle(l.beta, l.gamma)) {
    return 'rhombohedral';
  }
  return rightAngles[0] && rightAngles[2] ? 'monoclinic' : 'triclinic';
}

export function symmetrize(l: Lattice, system: LatticeSystem): Lattice {
  const right = { alpha: 90, beta: 90, gamma: 90 };
  switch (system) {
    case 'cubic': {
      const a = mean(l.a, l.b, l.c);
      return { a, b: a, c: a, ...right };
    }
    case 'tetragonal': {
      const a = mean(l.a, l.b);
      return { a, b: a, c: l.c, ...right };
    }
    case 'orthorhombic':
      return { a: l.a, b: l.b, c: l.c, ...right };
    case 'hexagonal': {
      const a = mean(l.a, l.b);
      return { a, b: a, c: l.c, alpha: 90, beta: 90, gamma: 120 };
    }
    case 'rhombohedral': {
      const a = mean(l.a, l.b, l.c);
      const angle = mean(l.alpha, l.beta, l.gamma);
      return { a, b: a, c: a, alpha: angle, beta: angle, gamma: angle };
    }
    case 'monoclinic':
      return { ...l, alpha: 90, gamma: 90 };
    case 'triclinic':
      return l;
  }
}
