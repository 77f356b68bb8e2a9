// The NXdata a transform or a merge writes: v, n (float64 sums, shaped (NL, NK, NH)), data = v/n
// (float32, NaN where n = 0), axes holding the voxels' lower edges, and an NXprocess `process` that
// records program, version, date, parameters, the grid and the geometry. The datasets are stored
// in 3-D chunks, written a chunk-thick block of L layers at a time (a merge never holds a whole
// volume): a slice in H, K or L then reads a few chunks, and the chunks of v and n where n is 0
// throughout are never written — HDF5 reads them as its fill value, 0, which is what they hold
// (every producer adds to v only where it adds a weight > 0 to n, so n = 0 means v = 0). data
// has to be written whole: h5wasm cannot give it NaN as fill value.
import fs from 'node:fs';
import { Dataset, File, Group } from 'h5wasm/node';
import pkg from '../../package.json' with { type: 'json' };
import { writeGeometryNexus } from './geometry-nexus.js';
import type { Geometry } from './geometry.js';
import { isAxisAligned, lowerEdges, type Grid } from './grid.js';
import { formatH5Url, type H5Url } from './hdf5-access.js';
import { writeFromHeap } from './heap-write.js';
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

/** Chunk edge in voxels (fewer along a thinner axis): 256 KiB chunks of v and n. */
const CHUNK_EDGE = 32;

const DATASETS = { v: Float64Array, n: Float64Array, data: Float32Array } as const;

export class TransformWriter {
  /** L layers per chunk: writeLayers with this many layers writes whole chunks */
  readonly layersPerBlock: number;
  private readonly file: File;
  private readonly group: Group;
  /** (L, K, H) */
  private readonly chunks: [number, number, number];
  private layersWritten = 0;

  constructor(
    readonly url: H5Url,
    readonly grid: Grid
  ) {
    const [nh, nk, nl] = grid.dims;
    this.chunks = [nl, nk, nh].map(d => Math.min(d, CHUNK_EDGE)) as [number, number, number];
    this.layersPerBlock = this.chunks[0];
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
      this.createDatasets();
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

  private createDatasets(): void {
    const [nh, nk, nl] = this.grid.dims;
    for (const [name, type] of Object.entries(DATASETS)) {
      // created empty and then extended, so that no chunk is written yet
      const ds = this.group.create_dataset({
        name,
        data: new type(0),
        shape: [0, nk, nh],
        maxshape: [nl, nk, nh],
        chunks: this.chunks
      });
      ds.resize([nl, nk, nh]);
    }
  }

  private path(name: keyof typeof DATASETS): string {
    return `${this.group.path}/${name}`;
  }

  /**
   * The next L layers (NK·NH values each), in order from L index 0: v and n hold whole layers.
   * Whole chunks are written when every call but the last has `layersPerBlock` layers.
   */
  writeLayers(v: Float64Array, n: Float64Array): void {
    const [nh, nk, nl] = this.grid.dims;
    const layers = v.length / (nh * nk);
    const l0 = this.layersWritten;
    if (!Number.isInteger(layers) || n.length !== v.length || l0 + layers > nl) {
      throw new Error(`internal: ${v.length} values are not whole layers after layer ${l0}`);
    }
    const [, ck, ch] = this.chunks;
    const hChunks = Math.ceil(nh / ch);
    for (let k0 = 0; k0 < nk; k0 += ck) {
      const k1 = Math.min(nk, k0 + ck);
      const reached = new Uint8Array(hChunks);
      // float32: the normalised view is for looking at; the exact sums stay in v and n (float64)
      writeFromHeap(
        this.file,
        this.path('data'),
        [l0, k0, 0],
        [layers, k1 - k0, nh],
        Float32Array,
        data => {
          let o = 0;
          for (let l = 0; l < layers; l++) {
            for (let k = k0; k < k1; k++) {
              const row = (l * nk + k) * nh;
              for (let c = 0; c < hChunks; c++) {
                let any = 0;
                for (let i = row + c * ch, end = row + Math.min(nh, (c + 1) * ch); i < end; i++) {
                  const w = n[i];
                  if (w === 0) {
                    data[o++] = NaN;
                  } else {
                    data[o++] = v[i] / w;
                    any = 1;
                  }
                }
                reached[c] |= any;
              }
            }
          }
        }
      );
      const first = reached.indexOf(1);
      if (first < 0) {
        continue;
      }
      const h0 = first * ch;
      const h1 = Math.min(nh, (reached.lastIndexOf(1) + 1) * ch);
      for (const [name, values] of [
        ['v', v],
        ['n', n]
      ] as const) {
        writeFromHeap(
          this.file,
          this.path(name),
          [l0, k0, h0],
          [layers, k1 - k0, h1 - h0],
          Float64Array,
          out => {
            let o = 0;
            for (let l = 0; l < layers; l++) {
              for (let k = k0; k < k1; k++) {
                const row = (l * nk + k) * nh;
                out.set(values.subarray(row + h0, row + h1), o);
                o += h1 - h0;
              }
            }
          }
        );
      }
    }
    this.layersWritten += layers;
  }

  /** Writes whole-volume accumulators (index (k·NK + j)·NH + i). */
  writeVolume(v: Float64Array, n: Float64Array): void {
    const layer = this.grid.dims[0] * this.grid.dims[1];
    for (let l = 0; l < this.grid.dims[2]; l += this.layersPerBlock) {
      const end = Math.min(this.grid.dims[2], l + this.layersPerBlock) * layer;
      this.writeLayers(v.subarray(l * layer, end), n.subarray(l * layer, end));
    }
  }

  finish(record: ProcessRecord): void {
    if (this.layersWritten !== this.grid.dims[2]) {
      throw new Error(`internal: ${this.layersWritten} of ${this.grid.dims[2]} layers written`);
    }
    for (const [name, longName] of [
      ['data', 'v/n (counts per unit weight)'],
      ['n', 'sum of weights'],
      ['v', 'sum of counts']
    ]) {
      (this.group.get(name) as Dataset).create_attribute('long_name', longName);
    }
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
