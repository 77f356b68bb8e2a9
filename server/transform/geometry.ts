// The geometry model of a single-crystal rotation scan, as GEOM.json holds it
// (schema/geometry.schema.json). Conventions (transform-math.md §1–4):
// - lab +x along the incident beam; |k| = 1/λ and reciprocal space in 1/Å WITHOUT 2π;
// - UB = U·B where the columns of B are a*, b*, c* (metric-correct B = (A⁻¹)ᵀ), so |UB·h| = 1/d;
// - pixel (x, y) is centred at (x + 0.5, y + 0.5), as in CCTW;
// - frame z is at φ = phi_start + z·phi_step (no half-frame offset).
import fs from 'node:fs';
import { Ajv } from 'ajv';
import schema from '../../schema/geometry.schema.json' with { type: 'json' };
import { InputError } from './input-error.js';
import { determinant, type Mat3 } from './matrix.js';

export interface Geometry {
  wavelength: number;
  distance: number;
  pixel_size: number;
  beam_center_x: number;
  beam_center_y: number;
  yaw: number;
  pitch: number;
  roll: number;
  theta: number;
  omega: number;
  chi: number;
  phi_start: number;
  phi_step: number;
  detector_orientation: string;
  ub_matrix: Mat3;
}

const validateSchema = new Ajv({ allErrors: true }).compile<Geometry>(schema);

// |det UB| relative to the product of its column lengths is |sin| of the cell's "volume angle";
// below this the cell is degenerate for any practical purpose and (UB)⁻¹ is noise.
const SINGULAR_UB_TOLERANCE = 1e-9;

/** Checks a geometry from any source (GEOM.json or a NeXus file) and returns it typed. */
export function validateGeometry(candidate: unknown, source: string): Geometry {
  if (!validateSchema(candidate)) {
    const problems = (validateSchema.errors ?? []).map(e =>
      `${e.instancePath.replace(/^\//, '').replace(/\//g, '.') || 'geometry'} ${e.message ?? 'is invalid'}`.trim()
    );
    throw new InputError(`invalid geometry in ${source}: ${problems.join('; ')}`);
  }
  const g = candidate;
  const axes = g.detector_orientation
    .trim()
    .split(/\s+/)
    .map(t => t[1]);
  if (new Set(axes).size !== 3) {
    throw new InputError(
      `invalid geometry in ${source}: detector_orientation "${g.detector_orientation}" must name each of x, y, z once`
    );
  }
  const columns = [0, 1, 2].map(j =>
    Math.hypot(g.ub_matrix[0][j], g.ub_matrix[1][j], g.ub_matrix[2][j])
  );
  const scale = columns[0] * columns[1] * columns[2];
  if (!(scale > 0) || Math.abs(determinant(g.ub_matrix)) < SINGULAR_UB_TOLERANCE * scale) {
    throw new InputError(
      `invalid geometry in ${source}: ub_matrix is singular (its columns are linearly dependent)`
    );
  }
  return g;
}

export function loadGeometryJson(path: string): Geometry {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read geometry file ${path}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new InputError(`geometry file ${path} is not JSON: ${(e as Error).message}`);
  }
  return validateGeometry(parsed, path);
}
