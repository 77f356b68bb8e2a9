// The geometry as NXRefine stores it in a NeXus entry (transform-math.md §8):
//   instrument/monochromator/wavelength
//   instrument/detector/{distance, pixel_size, beam_center_x, beam_center_y, detector_orientation,
//                        yaw, pitch, roll, orientation_matrix (U)}
//   instrument/goniometer/{theta, omega, chi, phi (attribute step)}
//   sample/{unitcell_a … unitcell_gamma, ub_matrix}
// NXRefine writes U, not UB; we also write sample/ub_matrix explicitly and prefer it on reading.
// Without it, UB = U·A⁻¹, which reproduces NXRefine's own HKL (its "B" is A⁻¹, §3).
import { Dataset, Group } from 'h5wasm/node';
import { validateGeometry, type Geometry } from './geometry.js';
import { InputError } from './input-error.js';
import { directLatticeMatrix } from './lattice.js';
import { inverse, matMul, type Mat3 } from './matrix.js';

function dataset(group: Group, path: string): Dataset | null {
  const entity = group.get(path);
  return entity instanceof Dataset ? entity : null;
}

function numbersOf(value: unknown): number[] {
  if (typeof value === 'number' || typeof value === 'bigint') {
    return [Number(value)];
  }
  if (ArrayBuffer.isView(value) || Array.isArray(value)) {
    return Array.from(value as ArrayLike<number | bigint>, Number);
  }
  return [];
}

function scalar(group: Group, path: string): number | undefined {
  const ds = dataset(group, path);
  return ds ? numbersOf(ds.value)[0] : undefined;
}

function text(group: Group, path: string): string | undefined {
  const value = dataset(group, path)?.value;
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' ? first : undefined;
}

function matrix(group: Group, path: string): Mat3 | undefined {
  const values = numbersOf(dataset(group, path)?.value);
  return values.length === 9
    ? ([values.slice(0, 3), values.slice(3, 6), values.slice(6, 9)] as Mat3)
    : undefined;
}

function ubMatrix(entry: Group, root: Group): Mat3 | undefined {
  const samples = [entry.get('sample'), root.get('entry/sample')].filter(
    (s): s is Group => s instanceof Group
  );
  for (const sample of samples) {
    const ub = matrix(sample, 'ub_matrix');
    if (ub) {
      return ub;
    }
  }
  const u = matrix(entry, 'instrument/detector/orientation_matrix');
  for (const sample of samples) {
    const cell = ['a', 'b', 'c', 'alpha', 'beta', 'gamma'].map(n =>
      scalar(sample, `unitcell_${n}`)
    );
    if (u && cell.every(v => v !== undefined)) {
      const [a, b, c, alpha, beta, gamma] = cell as number[];
      // NXRefine's "B" is A⁻¹, not (A⁻¹)ᵀ
      return matMul(u, inverse(directLatticeMatrix({ a, b, c, alpha, beta, gamma })));
    }
  }
  return undefined;
}

/**
 * Reads the geometry of the NXentry (or NXRefine `fN` group) `entryPath`. Missing tilts and
 * goniometer pitch default to 0 (older NXRefine files lack them); everything else is required.
 */
export function readGeometryNexus(root: Group, entryPath: string, source: string): Geometry {
  const entry = root.get(entryPath);
  if (!(entry instanceof Group)) {
    throw new InputError(`${source}: ${entryPath} is not a group, so it holds no geometry`);
  }
  const det = 'instrument/detector/';
  const gon = 'instrument/goniometer/';
  const phi = dataset(entry, `${gon}phi`);
  const optional = (path: string, ...alternatives: string[]): number =>
    [path, ...alternatives].map(p => scalar(entry, p)).find(v => v !== undefined) ?? 0;
  const candidate = {
    wavelength: scalar(entry, 'instrument/monochromator/wavelength'),
    distance: scalar(entry, `${det}distance`),
    pixel_size: scalar(entry, `${det}pixel_size`),
    beam_center_x: scalar(entry, `${det}beam_center_x`),
    beam_center_y: scalar(entry, `${det}beam_center_y`),
    yaw: optional(`${det}yaw`),
    pitch: optional(`${det}pitch`),
    roll: optional(`${det}roll`),
    theta: optional(`${gon}theta`, `${gon}goniometer_pitch`, `${gon}gonpitch`),
    omega: scalar(entry, `${gon}omega`),
    chi: scalar(entry, `${gon}chi`),
    phi_start: phi ? numbersOf(phi.value)[0] : undefined,
    phi_step: phi ? numbersOf(phi.attrs['step']?.value)[0] : undefined,
    detector_orientation: text(entry, `${det}detector_orientation`),
    ub_matrix: ubMatrix(entry, root)
  };
  const missing = Object.entries(candidate)
    .filter(([, v]) => v === undefined)
    .map(([k]) => k);
  if (missing.length > 0) {
    throw new InputError(
      `${source}#${entryPath} has no complete geometry (missing ${missing.join(', ')}); pass --geometry GEOM.json`
    );
  }
  return validateGeometry(candidate, `${source}#${entryPath}`);
}

function child(parent: Group, name: string, nxClass: string): Group {
  const existing = parent.get(name);
  const group = existing instanceof Group ? existing : parent.create_group(name);
  if (!group.attrs['NX_class']) {
    group.create_attribute('NX_class', nxClass);
  }
  return group;
}

function field(group: Group, name: string, value: number | string, units?: string): Dataset {
  const ds = group.create_dataset({ name, data: value });
  if (units) {
    ds.create_attribute('units', units);
  }
  return ds;
}

/** Writes the geometry into `entry` in the layout readGeometryNexus reads (NXRefine's, plus ub_matrix). */
export function writeGeometryNexus(entry: Group, g: Geometry): void {
  const instrument = child(entry, 'instrument', 'NXinstrument');
  field(
    child(instrument, 'monochromator', 'NXmonochromator'),
    'wavelength',
    g.wavelength,
    'angstrom'
  );
  const detector = child(instrument, 'detector', 'NXdetector');
  field(detector, 'distance', g.distance, 'mm');
  field(detector, 'pixel_size', g.pixel_size, 'mm');
  field(detector, 'beam_center_x', g.beam_center_x, 'pixel');
  field(detector, 'beam_center_y', g.beam_center_y, 'pixel');
  for (const tilt of ['yaw', 'pitch', 'roll'] as const) {
    field(detector, tilt, g[tilt], 'degree');
  }
  field(detector, 'detector_orientation', g.detector_orientation);
  const goniometer = child(instrument, 'goniometer', 'NXgoniometer');
  for (const angle of ['theta', 'omega', 'chi'] as const) {
    field(goniometer, angle, g[angle], 'degree');
  }
  field(goniometer, 'phi', g.phi_start, 'degree').create_attribute('step', g.phi_step);
  const ub = child(entry, 'sample', 'NXsample').create_dataset({
    name: 'ub_matrix',
    data: new Float64Array(g.ub_matrix.flat()),
    shape: [3, 3]
  });
  ub.create_attribute('units', '1/angstrom');
  ub.create_attribute('convention', 'no 2*pi; columns of B are a*, b*, c*; h = (UB)^-1 q');
}
