// Small fixed-size linear algebra for the geometry: 3-vectors and row-major 3×3 matrices.
// Rotations are right-handed active rotations about the lab axes, angles in degrees.

export type Vec3 = [number, number, number];
export type Mat3 = [Vec3, Vec3, Vec3];

export function matMul(a: Mat3, b: Mat3): Mat3 {
  const row = (i: number): Vec3 =>
    [0, 1, 2].map(j => a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j]) as Vec3;
  return [row(0), row(1), row(2)];
}

export function matVec(a: Mat3, v: Vec3): Vec3 {
  return a.map(r => r[0] * v[0] + r[1] * v[1] + r[2] * v[2]) as Vec3;
}

export function transpose(a: Mat3): Mat3 {
  return [0, 1, 2].map(j => [a[0][j], a[1][j], a[2][j]]) as Mat3;
}

export function determinant(a: Mat3): number {
  return (
    a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
    a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
    a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
  );
}

/** Inverse by cofactors; the caller decides what "too singular" means (see geometry validation). */
export function inverse(a: Mat3): Mat3 {
  const det = determinant(a);
  if (det === 0 || !Number.isFinite(det)) {
    throw new Error('matrix is singular');
  }
  const c = (i: number, j: number): number => {
    const r = [0, 1, 2].filter(k => k !== i);
    const s = [0, 1, 2].filter(k => k !== j);
    const minor = a[r[0]][s[0]] * a[r[1]][s[1]] - a[r[0]][s[1]] * a[r[1]][s[0]];
    return ((i + j) % 2 === 0 ? 1 : -1) * minor;
  };
  // inverse = adjugate / det, adjugate = transposed cofactor matrix
  return [0, 1, 2].map(i => [0, 1, 2].map(j => c(j, i) / det)) as Mat3;
}

export function norm(v: Vec3): number {
  return Math.hypot(v[0], v[1], v[2]);
}

function cosSin(degrees: number): [number, number] {
  const r = (degrees * Math.PI) / 180;
  return [Math.cos(r), Math.sin(r)];
}

export function rotX(degrees: number): Mat3 {
  const [c, s] = cosSin(degrees);
  return [
    [1, 0, 0],
    [0, c, -s],
    [0, s, c]
  ];
}

export function rotY(degrees: number): Mat3 {
  const [c, s] = cosSin(degrees);
  return [
    [c, 0, s],
    [0, 1, 0],
    [-s, 0, c]
  ];
}

export function rotZ(degrees: number): Mat3 {
  const [c, s] = cosSin(degrees);
  return [
    [c, -s, 0],
    [s, c, 0],
    [0, 0, 1]
  ];
}
