import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { File } from 'h5wasm/node';
import {
  hklOfPixel,
  pixelScatteringVectors,
  scatteringVector,
  detectorToLab
} from '../../server/transform/forward.js';
import { readGeometryNexus, writeGeometryNexus } from '../../server/transform/geometry-nexus.js';
import { validateGeometry, type Geometry } from '../../server/transform/geometry.js';
import { frameMaps, parseGrid } from '../../server/transform/grid.js';
import { initHdf5 } from '../../server/transform/hdf5-access.js';
import { InputError } from '../../server/transform/input-error.js';
import { reflectionsOf } from '../../server/transform/inverse.js';
import { tempDir } from './helpers.js';

// The transform's geometry in TypeScript: grid maps, the per-pixel table, NeXus round trip,
// inverse round trip. The numeric oracle comparisons live in test/python/test_transform_*.py.

const dir = tempDir('nexus-geometry-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const geometry: Geometry = validateGeometry(
  {
    wavelength: 0.41,
    distance: 310,
    pixel_size: 0.172,
    beam_center_x: 731.2,
    beam_center_y: 844.9,
    yaw: 0.3,
    pitch: -0.7,
    roll: 1.1,
    theta: 2,
    omega: -4,
    chi: -88,
    phi_start: -5,
    phi_step: 0.1,
    detector_orientation: '-y +z -x',
    ub_matrix: [
      [0.16, -0.035, -0.058],
      [0.187, -0.042, 0.05],
      [-0.054, -0.246, -0.0001]
    ]
  },
  'test'
);

test('the frame map sends q to fractional grid coordinates (h − origin)/step', () => {
  const grid = parseGrid('-3:5:64,-2:2:20,0.5:1.5:4');
  const [z, x, y] = [123, 400, 1200];
  const maps = frameMaps(geometry, grid, z, 1);
  const q = scatteringVector(geometry, detectorToLab(geometry), x, y);
  const u = [0, 1, 2].map(
    i => maps[3 * i] * q[0] + maps[3 * i + 1] * q[1] + maps[3 * i + 2] * q[2] + maps[9 + i]
  );
  const h = hklOfPixel(geometry, z, x, y);
  const expected = [(h[0] + 3) / 0.125, (h[1] + 2) / 0.2, (h[2] - 0.5) / 0.25];
  u.forEach((value, i) =>
    assert.ok(Math.abs(value - expected[i]) < 1e-9, `${value} vs ${expected[i]}`)
  );
});

test('the per-pixel table holds q of pixel y·cols + x', () => {
  const table = pixelScatteringVectors(geometry, 7, 5);
  const q = scatteringVector(geometry, detectorToLab(geometry), 3, 6);
  assert.deepEqual(Array.from(table.subarray(3 * (6 * 5 + 3), 3 * (6 * 5 + 3) + 3)), q);
});

test('grid specifications are parsed or refused with a reason', () => {
  assert.deepEqual(parseGrid('0:1:4,0:2:4,0:4:4').steps, [
    [0.25, 0, 0],
    [0, 0.5, 0],
    [0, 0, 1]
  ]);
  for (const [spec, reason] of [
    ['0:1:4,0:1:4', /H0:H1:NH/],
    ['0:1:2.5,0:1:4,0:1:4', /whole number/],
    ['1:1:4,0:1:4,0:1:4', /start < end/],
    ['a:1:4,0:1:4,0:1:4', /numbers/]
  ] as const) {
    assert.throws(
      () => parseGrid(spec),
      (e: Error) => e instanceof InputError && reason.test(e.message)
    );
  }
});

test('the geometry written to NeXus reads back unchanged', async () => {
  await initHdf5();
  const file = path.join(dir, 'geometry.nxs');
  const out = new File(file, 'w');
  writeGeometryNexus(out.create_group('entry'), geometry);
  out.close();
  const back = new File(file, 'r');
  try {
    assert.deepEqual(readGeometryNexus(back, '/entry', file), geometry);
  } finally {
    back.close();
  }
});

test('every reflection the inverse finds maps back to its HKL', () => {
  let found = 0;
  for (const h of [
    [1, 2, 3],
    [-2, 0, 4],
    [3, -1, -2],
    [0, 1, -5]
  ] as const) {
    for (const r of reflectionsOf(geometry, [...h], { frames: 3650, rows: 1679, cols: 1475 })) {
      const back = hklOfPixel(geometry, r.frame, r.x, r.y);
      back.forEach((v, i) => assert.ok(Math.abs(v - h[i]) < 1e-10, `${back} vs ${h}`));
      found++;
    }
  }
  assert.ok(found >= 2, `only ${found} reflections found`);
});

test('non-finite values (possible in NeXus, not in JSON) are refused by name (ajv: not a number)', () => {
  assert.throws(
    () => validateGeometry({ ...geometry, distance: Number.NaN }, 'nexus'),
    (e: Error) => e instanceof InputError && /distance must be number/.test(e.message)
  );
  assert.throws(
    () =>
      validateGeometry(
        { ...geometry, ub_matrix: [[Infinity, 0, 0], ...geometry.ub_matrix.slice(1)] },
        'nexus'
      ),
    (e: Error) => e instanceof InputError && /ub_matrix.0.0 must be number/.test(e.message)
  );
});
