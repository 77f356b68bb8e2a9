// Inverse mapping (H, K, L) → (frame, x, y): closed-form Ewald solution (transform-math.md §6).
// It lives in TypeScript next to the forward mapping so both share one geometry model; it is
// exact for tilted detectors (NXRefine's get_xyz intersects the untilted plane instead).
import { detectorToLab, goniometerBase, PIXEL_CENTRE } from './forward.js';
import type { Geometry } from './geometry.js';
import { inverse, matVec, norm, rotZ, type Vec3 } from './matrix.js';

export interface Reflection {
  /** fractional frame index: φ = phi_start + frame·phi_step */
  frame: number;
  phi: number;
  /** pixel index coordinates; pixel x covers [x, x + 1) */
  x: number;
  y: number;
}

export interface Scan {
  frames: number;
  rows: number;
  cols: number;
}

const DEGREES = 180 / Math.PI;

/** Every position where h is recorded in the scan: both Ewald crossings, every 360° repeat. */
export function reflectionsOf(g: Geometry, h: Vec3, scan: Scan): Reflection[] {
  const gs = matVec(g.ub_matrix, h);
  const base = goniometerBase(g);
  const [ax, ay, az] = base[0];
  const p = ax * gs[0] + ay * gs[1];
  const q = ay * gs[0] - ax * gs[1];
  const r = az * gs[2] + (g.wavelength / 2) * (gs[0] ** 2 + gs[1] ** 2 + gs[2] ** 2);
  const m = Math.hypot(p, q);
  if (m === 0 || Math.abs(r) > m) {
    return [];
  }
  const centre = Math.atan2(q, p) * DEGREES;
  const halfWidth = Math.acos(-r / m) * DEGREES;
  const crossings = halfWidth === 0 ? [centre] : [centre - halfWidth, centre + halfWidth];

  const scanStart = Math.min(g.phi_start, g.phi_start + scan.frames * g.phi_step);
  const scanEnd = Math.max(g.phi_start, g.phi_start + scan.frames * g.phi_step);
  const toLab = detectorToLab(g);
  const results: Reflection[] = [];
  for (const crossing of crossings) {
    for (
      let phi = crossing + 360 * Math.ceil((scanStart - crossing) / 360);
      phi < scanEnd;
      phi += 360
    ) {
      const frame = (phi - g.phi_start) / g.phi_step;
      if (frame < 0 || frame >= scan.frames) {
        continue;
      }
      const pixel = detectorHit(g, toLab, matVec(base, matVec(rotZ(phi), gs)));
      if (pixel && pixel.x >= 0 && pixel.x < scan.cols && pixel.y >= 0 && pixel.y < scan.rows) {
        results.push({ frame, phi, ...pixel });
      }
    }
  }
  return results.sort((a, b) => a.frame - b.frame);
}

/** Where the ray along k_f = q_lab + k_i meets the (tilted) detector plane, or null if behind. */
function detectorHit(
  g: Geometry,
  toLab: ReturnType<typeof detectorToLab>,
  qLab: Vec3
): { x: number; y: number } | null {
  const kf: Vec3 = [qLab[0] + 1 / g.wavelength, qLab[1], qLab[2]];
  const length = norm(kf);
  const u: Vec3 = [kf[0] / length, kf[1] / length, kf[2] / length];
  // a·d1 + b·d2 − t·u = −(L, 0, 0), d1 and d2 the first two columns of D·Oᵀ
  const system = [0, 1, 2].map(i => [toLab[i][0], toLab[i][1], -u[i]]) as [Vec3, Vec3, Vec3];
  const [a, b, t] = matVec(inverse(system), [-g.distance, 0, 0]);
  if (!(t > 0)) {
    return null;
  }
  return {
    x: a / g.pixel_size + g.beam_center_x - PIXEL_CENTRE,
    y: b / g.pixel_size + g.beam_center_y - PIXEL_CENTRE
  };
}
