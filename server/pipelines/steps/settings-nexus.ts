// A scan's geometry and lattice in a NeXus entry: the geometry as NXRefine stores it (plus
// ub_matrix), and the lattice as NXRefine's sample/unitcell_* fields.
import { Group } from 'h5wasm/node';
import { writeGeometryNexus } from '../../transform/geometry-nexus.js';
import { ensureGroup } from '../../transform/nexus-output.js';
import type { ScanSettings } from './scan.js';

export function writeScanSettings(entry: Group, settings: ScanSettings): void {
  writeGeometryNexus(entry, settings.geometry);
  const sample = ensureGroup(entry, 'sample', 'NXsample');
  for (const [name, value] of Object.entries(settings.lattice)) {
    sample
      .create_dataset({ name: `unitcell_${name}`, data: value })
      .create_attribute('units', name.length === 1 ? 'angstrom' : 'degree');
  }
}
