// A slab request's plane → the thin grid (N0 × N1 × 1) the native kernel bins into. The grid's
// third step is the thickness along the unit normal u×v (in HKL coordinates), centred on the
// plane, so that "L = c, thickness t" is exactly the L layer [c − t/2, c + t/2) of a full grid.
import { Ajv } from 'ajv';
import type { HklVector, SlabPlane, SlabRequest } from '../../src/protocol/slabs.js';
import { HttpError } from '../http/errors.js';
import type { Grid } from '../transform/grid.js';
import type { Mat3, Vec3 } from '../transform/matrix.js';

/** Pixels of one slab image: v and n in float64 plus float32 copies stay small. */
const MAX_PIXELS = 4096 * 4096;

const vector = { type: 'array', items: { type: 'number' }, minItems: 3, maxItems: 3 };
const interval = { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 };

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['file', 'plane', 'thickness', 'range', 'resolution'],
  properties: {
    file: { type: 'string', minLength: 1 },
    plane: {
      oneOf: [
        {
          type: 'object',
          additionalProperties: false,
          required: ['preset', 'value'],
          properties: { preset: { const: 'L' }, value: { type: 'number' } }
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['preset'],
          properties: { preset: { const: 'H=K' } }
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['preset', 'origin', 'u', 'v'],
          properties: { preset: { const: 'free' }, origin: vector, u: vector, v: vector }
        }
      ]
    },
    thickness: { type: 'number', exclusiveMinimum: 0 },
    range: {
      type: 'object',
      additionalProperties: false,
      required: ['u', 'v'],
      properties: { u: interval, v: interval }
    },
    resolution: {
      type: 'array',
      items: { type: 'integer', minimum: 1, maximum: 8192 },
      minItems: 2,
      maxItems: 2
    }
  }
};

const ajv = new Ajv({ allErrors: true });
const validate = ajv.compile<SlabRequest>(schema);

function badPlane(message: string): HttpError {
  return new HttpError(400, `invalid slab request: ${message}`);
}

/** The request, or a 400 naming what is wrong with it. */
export function parseSlabRequest(body: unknown): SlabRequest {
  if (!validate(body)) {
    throw badPlane(ajv.errorsText(validate.errors, { dataVar: 'request' }));
  }
  const { range, resolution } = body;
  const numbers = [body.thickness, ...range.u, ...range.v];
  if (body.plane.preset === 'free') {
    numbers.push(...body.plane.origin, ...body.plane.u, ...body.plane.v);
  }
  // JSON has no NaN or Infinity, but 1e999 parses to Infinity
  if (numbers.some(x => !Number.isFinite(x))) {
    throw badPlane('every number must be finite');
  }
  for (const axis of ['u', 'v'] as const) {
    if (!(range[axis][1] > range[axis][0])) {
      throw badPlane(`range.${axis} must be [start, end] with start < end`);
    }
  }
  if (resolution[0] * resolution[1] > MAX_PIXELS) {
    throw badPlane(`resolution ${resolution.join('×')} exceeds ${MAX_PIXELS} pixels`);
  }
  const { u, v } = planeVectors(body.plane);
  const normal = cross(u, v);
  if (!(Math.hypot(...normal) > 1e-9 * Math.hypot(...u) * Math.hypot(...v))) {
    throw badPlane('plane.u and plane.v must be non-zero and not parallel');
  }
  return body;
}

export function planeVectors(plane: SlabPlane): { origin: HklVector; u: HklVector; v: HklVector } {
  switch (plane.preset) {
    case 'L':
      return { origin: [0, 0, plane.value], u: [1, 0, 0], v: [0, 1, 0] };
    case 'H=K':
      return { origin: [0, 0, 0], u: [1, 1, 0], v: [0, 0, 1] };
    case 'free':
      return plane;
  }
}

function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

/** "H", "K", "L" for the unit axes, else the direction "[1 1 0]". */
export function axisLabel(direction: Vec3): string {
  const names = ['H', 'K', 'L'];
  const unit = direction.findIndex(
    (x, i) => x === 1 && direction.every((y, j) => j === i || y === 0)
  );
  return `${unit >= 0 ? names[unit] : `[${direction.join(' ')}]`} (r.l.u.)`;
}

export function slabGrid(request: SlabRequest): Grid {
  const { origin, u, v } = planeVectors(request.plane);
  const normal = cross(u, v);
  const length = Math.hypot(...normal);
  const across = normal.map(x => (x / length) * request.thickness) as Vec3;
  const [n0, n1] = request.resolution;
  const { u: ur, v: vr } = request.range;
  const stepU = (ur[1] - ur[0]) / n0;
  const stepV = (vr[1] - vr[0]) / n1;
  const steps: Mat3 = [u.map(x => x * stepU) as Vec3, v.map(x => x * stepV) as Vec3, across];
  return {
    origin: [0, 1, 2].map(i => origin[i] + ur[0] * u[i] + vr[0] * v[i] - across[i] / 2) as Vec3,
    steps,
    dims: [n0, n1, 1]
  };
}

/** Edges of the pixels along u and v (N + 1 each), in multiples of u and v. */
export function slabAxes(request: SlabRequest): { u: number[]; v: number[] } {
  const edges = (r: [number, number], n: number): number[] =>
    Array.from({ length: n + 1 }, (_, i) => r[0] + ((r[1] - r[0]) * i) / n);
  return {
    u: edges(request.range.u, request.resolution[0]),
    v: edges(request.range.v, request.resolution[1])
  };
}
