// The NXdata a transform or a merge writes: v, n (float64 sums, shaped (NL, NK, NH)), data = v/n
// (float32, NaN where n = 0), axes holding the voxels' lower edges, and an NXprocess `process` that
// records program, version, date, parameters, the grid and the geometry. Datasets are written
// one L slab at a time so a merge never holds a whole volume.
import fs from 'node:fs';
import { Dataset, File, Group } from 'h5wasm/node';
import pkg from '../../package.json' with { type: 'json' };
import { writeGeometryNexus } from './geometry-nexus.js';
import type { Geometry } from './geometry.js';
import { isAxisAligned, lowerEdges, type Grid } from './grid.js';
import { formatH5Url, type H5Url } from './hdf5-access.js';
import { InputError } from './input-error.js';

export const PROGRAM = 'nexus-transform';

export interface ProcessRecord {
  /** the command line, for humans */
  command: string;
  /** the resolved inputs and options, for programs (stored as JSON) */
  parameters: Record<string, unknown>;
  /** absent for a cut through a volume, which has no scan geometry of its own */
  geometry?: Geometry;
}

export function ensureGroup(parent: Group, name: string, nxClass: string): Group {
  const existing = parent.get(name);
  if (existing instanceof Group) {
    return existing;
  }
  const group = parent.create_group(name);
  group.create_attribute('NX_class', nxClass);
  return group;
}

function slabSize(grid: Grid): number {
  return grid.dims[0] * grid.dims[1];
}

export class TransformWriter {
  private readonly file: File;
  private readonly group: Group;
  private readonly datasets: Record<'v' | 'n' | 'data', Dataset | undefined> = {
    v: undefined,
    n: undefined,
    data: undefined
  };
  private slabsWritten = 0;

  constructor(
    readonly url: H5Url,
    readonly grid: Grid
  ) {
    this.file = new File(url.file, fs.existsSync(url.file) ? 'a' : 'w');
    try {
      const parts = url.path.split('/').filter(Boolean);
      if (parts.length === 0) {
        throw new InputError(
          `output ${formatH5Url(url)} must name a group inside the file, e.g. OUT.nxs#/entry/transform`
        );
      }
      if (this.file.get(url.path) !== null) {
        throw new InputError(
          `output ${formatH5Url(url)} already exists; choose another group or file`
        );
      }
      let parent: Group = this.file;
      parts.slice(0, -1).forEach((name, depth) => {
        parent = ensureGroup(parent, name, depth === 0 ? 'NXentry' : 'NXcollection');
      });
      if (parts.length > 1 && !this.file.attrs['default']) {
        this.file.create_attribute('default', parts[0]);
      }
      this.group = ensureGroup(parent, parts[parts.length - 1], 'NXdata');
      if (!parent.attrs['default']) {
        parent.create_attribute('default', parts[parts.length - 1]);
      }
      this.writeAxes();
    } catch (e) {
      this.file.close();
      throw e;
    }
  }

  private writeAxes(): void {
    const aligned = isAxisAligned(this.grid);
    const names = aligned ? ['Qh', 'Qk', 'Ql'] : ['grid_i', 'grid_j', 'grid_k'];
    const labels = aligned
      ? ['H (r.l.u.)', 'K (r.l.u.)', 'L (r.l.u.)']
      : ['step 0 index', 'step 1 index', 'step 2 index'];
    ([0, 1, 2] as const).forEach(axis => {
      const values = aligned
        ? lowerEdges(this.grid, axis)
        : Float64Array.from({ length: this.grid.dims[axis] }, (_, i) => i);
      const ds = this.group.create_dataset({ name: names[axis], data: values });
      ds.create_attribute('long_name', labels[axis]);
      this.group.create_attribute(`${names[axis]}_indices`, 2 - axis);
    });
    this.group.create_attribute('signal', 'data');
    this.group.create_attribute('axes', [names[2], names[1], names[0]]);
  }

  /** The next L slab (NK·NH values each), in order from L index 0. */
  writeSlab(v: Float64Array, n: Float64Array): void {
    // float32: the normalised view is for looking at; the exact sums stay in v and n (float64)
    const data = new Float32Array(v.length);
    for (let i = 0; i < v.length; i++) {
      data[i] = n[i] === 0 ? NaN : v[i] / n[i];
    }
    const [nh, nk, nl] = this.grid.dims;
    const l = this.slabsWritten++;
    for (const [name, values] of [
      ['v', v],
      ['n', n],
      ['data', data]
    ] as const) {
      const existing = this.datasets[name];
      if (existing) {
        existing.write_slice([[l, l + 1]], values);
      } else {
        const ds = this.group.create_dataset({
          name,
          data: values,
          shape: [1, nk, nh],
          maxshape: [nl, nk, nh],
          chunks: [1, nk, nh]
        });
        if (nl > 1) {
          ds.resize([nl, nk, nh]);
        }
        this.datasets[name] = ds;
      }
    }
  }

  /** Writes every slab of whole-volume accumulators (index (k·NK + j)·NH + i). */
  writeVolume(v: Float64Array, n: Float64Array): void {
    const size = slabSize(this.grid);
    for (let l = 0; l < this.grid.dims[2]; l++) {
      this.writeSlab(v.subarray(l * size, (l + 1) * size), n.subarray(l * size, (l + 1) * size));
    }
  }

  finish(record: ProcessRecord): void {
    if (this.slabsWritten !== this.grid.dims[2]) {
      throw new Error(`internal: ${this.slabsWritten} of ${this.grid.dims[2]} slabs written`);
    }
    this.datasets.data?.create_attribute('long_name', 'v/n (counts per unit weight)');
    this.datasets.n?.create_attribute('long_name', 'sum of weights');
    this.datasets.v?.create_attribute('long_name', 'sum of counts');
    const process = ensureGroup(this.group, 'process', 'NXprocess');
    process.create_dataset({ name: 'program', data: PROGRAM });
    process.create_dataset({ name: 'version', data: pkg.version });
    process.create_dataset({ name: 'date', data: new Date().toISOString() });
    process.create_dataset({ name: 'command', data: record.command });
    const parameters = ensureGroup(process, 'parameters', 'NXparameters');
    parameters.create_dataset({ name: 'json', data: JSON.stringify(record.parameters) });
    parameters.create_dataset({ name: 'grid_origin', data: new Float64Array(this.grid.origin) });
    parameters.create_dataset({
      name: 'grid_steps',
      data: new Float64Array(this.grid.steps.flat()),
      shape: [3, 3]
    });
    parameters.create_dataset({ name: 'grid_dims', data: new Int32Array(this.grid.dims) });
    if (record.geometry) {
      writeGeometryNexus(process, record.geometry);
    }
  }

  close(): void {
    this.file.close();
  }
}
