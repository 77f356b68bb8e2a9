// A scan folder (DEVELOPERS.md "Pipelines"): raw frames, scan.json (GEOM.json fields plus the
// lattice, ub_matrix = the initial orientation) and nexus/, where each step writes its own file.
import fs from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { validateGeometry, type Geometry } from '../../transform/geometry.js';
import { InputError } from '../../transform/input-error.js';
import type { Lattice } from '../../transform/lattice.js';

export interface ScanSettings {
  geometry: Geometry;
  lattice: Lattice;
}

const validateLattice = new Ajv({ allErrors: true }).compile<Lattice>({
  type: 'object',
  additionalProperties: false,
  required: ['a', 'b', 'c', 'alpha', 'beta', 'gamma'],
  properties: Object.fromEntries(
    ['a', 'b', 'c', 'alpha', 'beta', 'gamma'].map(k => [
      k,
      { type: 'number', exclusiveMinimum: 0, ...(k.length > 1 ? { exclusiveMaximum: 180 } : {}) }
    ])
  )
});

export function scanPaths(scanDir: string) {
  const scan = path.resolve(scanDir);
  const nexus = path.join(scan, 'nexus');
  return {
    scan,
    nexus,
    settings: path.join(scan, 'scan.json'),
    raw: path.join(nexus, 'raw.nxs'),
    max: path.join(nexus, 'max.nxs'),
    peaks: path.join(nexus, 'peaks.nxs'),
    refine: path.join(nexus, 'refine.nxs'),
    refinedGeometry: path.join(nexus, 'geometry.json'),
    prepare: path.join(nexus, 'prepare.json'),
    mask: path.join(nexus, 'mask.nxs'),
    part: (index: number, parts: number) =>
      path.join(nexus, `transform-part-${index}-of-${parts}.nxs`),
    transform: path.join(nexus, 'transform.nxs')
  };
}

export type ScanPaths = ReturnType<typeof scanPaths>;

/** scan.json or a refined geometry.json: the GEOM.json fields plus `lattice`. */
export function loadScanSettings(file: string): ScanSettings {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InputError(`${file} must hold a JSON object`);
  }
  const { lattice, ...geometry } = parsed as Record<string, unknown>;
  if (!validateLattice(lattice)) {
    const problems = (validateLattice.errors ?? []).map(
      e => `lattice${e.instancePath.replace(/\//g, '.')} ${e.message ?? 'is invalid'}`
    );
    throw new InputError(
      `${file}: ${problems.join('; ') || 'lattice {a, b, c, alpha, beta, gamma} is required'}`
    );
  }
  return { geometry: validateGeometry(geometry, file), lattice };
}

/** scan.json: the initial geometry and lattice. */
export function initialSettings(paths: ScanPaths): ScanSettings {
  if (!fs.existsSync(paths.settings)) {
    throw new InputError(`missing ${paths.settings} (the scan's geometry and lattice)`);
  }
  return loadScanSettings(paths.settings);
}

/** The refined geometry once `refine` has run, else the initial one from scan.json. */
export function currentSettings(paths: ScanPaths): { settings: ScanSettings; source: string } {
  return fs.existsSync(paths.refinedGeometry)
    ? { settings: loadScanSettings(paths.refinedGeometry), source: paths.refinedGeometry }
    : { settings: initialSettings(paths), source: paths.settings };
}

export function requireInput(file: string, producedBy: string): string {
  if (!fs.existsSync(file)) {
    throw new InputError(`missing ${file}: run the ${producedBy} step first`);
  }
  return file;
}
