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

/**
 * q_lab = k_f − k_i for the ray through detector position (x, y) in pixel index units, written
 * to out[offset..offset+2]; allocation-free because it runs for every pixel of the detector.
 */
function writeScatteringVector(
  g: Geometry,
  toLab: Mat3,
  x: number,
  y: number,
  out: Float64Array | Vec3,
  offset: number
): void {
  const px = (x + PIXEL_CENTRE - g.beam_center_x) * g.pixel_size;
  const py = (y + PIXEL_CENTRE - g.beam_center_y) * g.pixel_size;
  const r0 = toLab[0][0] * px + toLab[0][1] * py + g.distance;
  const r1 = toLab[1][0] * px + toLab[1][1] * py;
  const r2 = toLab[2][0] * px + toLab[2][1] * py;
  const k = 1 / g.wavelength;
  const scale = k / Math.sqrt(r0 * r0 + r1 * r1 + r2 * r2);
  out[offset] = r0 * scale - k;
  out[offset + 1] = r1 * scale;
  out[offset + 2] = r2 * scale;
}

export function scatteringVector(g: Geometry, toLab: Mat3, x: number, y: number): Vec3 {
  const q: Vec3 = [0, 0, 0];
  writeScatteringVector(g, toLab, x, y, q, 0);
  return q;
}

/** q_lab of every pixel, 3 values per pixel, pixel p = y·cols + x (the kernel's layout). */
export function pixelScatteringVectors(g: Geometry, rows: number, cols: number): Float64Array {
  const toLab = detectorToLab(g);
  const q = new Float64Array(3 * rows * cols);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      writeScatteringVector(g, toLab, x, y, q, 3 * (y * cols + x));
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
