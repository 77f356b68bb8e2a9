// Forward mapping pixel (x, y) of frame z → (H, K, L) (transform-math.md §4), factorised as
// h = M(φ(z))·q_lab(x, y): q_lab does not depend on the frame (sample offset S = 0, as in CCTW),
// so it is computed once per detector and only the 3×3 M changes from frame to frame.
import type { Geometry } from './geometry.js';
import {
  inverse,
  matMul,
  matVec,
  rotX,
  rotY,
  rotZ,
  transpose,
  type Mat3,
  type Vec3
} from './matrix.js';

/** CCTW's pixel-centre offset δ: pixel index x covers [x, x + 1) and is centred at x + ½. */
export const PIXEL_CENTRE = 0.5;

/** Rows are the detector axes (x, y, normal) in lab axes, e.g. "-y +z -x" (§3). */
export function detectorOrientationMatrix(orientation: string): Mat3 {
  return orientation
    .trim()
    .split(/\s+/)
    .map(token => {
      const row: Vec3 = [0, 0, 0];
      row['xyz'.indexOf(token[1])] = token[0] === '-' ? -1 : 1;
      return row;
    }) as Mat3;
}

/** D·Oᵀ: detector-frame vectors (mm) to lab vectors, D = Rx(roll)·Ry(pitch)·Rz(yaw). */
export function detectorToLab(g: Geometry): Mat3 {
  const tilt = matMul(rotX(g.roll), matMul(rotY(g.pitch), rotZ(g.yaw)));
  return matMul(tilt, transpose(detectorOrientationMatrix(g.detector_orientation)));
}

/** q_lab = k_f − k_i for the ray through detector position (x, y) in pixel index units. */
export function scatteringVector(g: Geometry, toLab: Mat3, x: number, y: number): Vec3 {
  const p: Vec3 = [
    (x + PIXEL_CENTRE - g.beam_center_x) * g.pixel_size,
    (y + PIXEL_CENTRE - g.beam_center_y) * g.pixel_size,
    0
  ];
  const r = matVec(toLab, p);
  r[0] += g.distance;
  const scale = 1 / (g.wavelength * Math.hypot(r[0], r[1], r[2]));
  return [r[0] * scale - 1 / g.wavelength, r[1] * scale, r[2] * scale];
}

/** q_lab of every pixel, 3 values per pixel, pixel p = y·cols + x (the kernel's layout). */
export function pixelScatteringVectors(g: Geometry, rows: number, cols: number): Float64Array {
  // scatteringVector inlined: this runs for millions of pixels and must not allocate per pixel
  const [[m00, m01], [m10, m11], [m20, m21]] = detectorToLab(g);
  const q = new Float64Array(3 * rows * cols);
  const k = 1 / g.wavelength;
  for (let y = 0; y < rows; y++) {
    const py = (y + PIXEL_CENTRE - g.beam_center_y) * g.pixel_size;
    for (let x = 0; x < cols; x++) {
      const px = (x + PIXEL_CENTRE - g.beam_center_x) * g.pixel_size;
      const r0 = m00 * px + m01 * py + g.distance;
      const r1 = m10 * px + m11 * py;
      const r2 = m20 * px + m21 * py;
      const scale = k / Math.sqrt(r0 * r0 + r1 * r1 + r2 * r2);
      const p = 3 * (y * cols + x);
      q[p] = r0 * scale - k;
      q[p + 1] = r1 * scale;
      q[p + 2] = r2 * scale;
    }
  }
  return q;
}

export function phiOfFrame(g: Geometry, z: number): number {
  return g.phi_start + g.phi_step * z;
}

/** A_g = Ry(θ)·Rz(ω)·Rx(χ), so that G(φ) = A_g·Rz(φ) maps sample to lab. */
export function goniometerBase(g: Geometry): Mat3 {
  return matMul(rotY(g.theta), matMul(rotZ(g.omega), rotX(g.chi)));
}

/** M(φ) = (UB)⁻¹·G(φ)ᵀ: lab-frame q → Miller indices. */
export function labToHkl(g: Geometry, phi: number): Mat3 {
  return matMul(inverse(g.ub_matrix), transpose(matMul(goniometerBase(g), rotZ(phi))));
}

export function hklOfPixel(g: Geometry, z: number, x: number, y: number): Vec3 {
  return matVec(labToHkl(g, phiOfFrame(g, z)), scatteringVector(g, detectorToLab(g), x, y));
}
