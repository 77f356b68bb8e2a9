// `nexus-transform merge`: sums the v and n of transform parts on the same grid, then
// normalises (transform-math.md §5: never average normalised volumes). Works one chunk-thick
// block of L layers at a time, so memory stays at a few blocks whatever the grid size.
import { Dataset, File, Group } from 'h5wasm/node';
import { readGeometryNexus } from './geometry-nexus.js';
import type { Grid } from './grid.js';
import {
  formatH5Url,
  initHdf5,
  openForReading,
  refuseSameFile,
  type H5Url
} from './hdf5-access.js';
import { InputError } from './input-error.js';
import type { Mat3, Vec3 } from './matrix.js';
import { TransformWriter } from './nexus-output.js';

interface Part {
  url: H5Url;
  file: File;
  v: Dataset;
  n: Dataset;
}

function gridOf(group: Group, source: string): Grid {
  const values = (name: string): number[] => {
    const ds = group.get(`process/parameters/${name}`);
    if (!(ds instanceof Dataset)) {
      throw new InputError(
        `${source} is not a nexus-transform result (no process/parameters/${name})`
      );
    }
    return Array.from(ds.value as ArrayLike<number | bigint>, Number);
  };
  const steps = values('grid_steps');
  return {
    origin: values('grid_origin') as Vec3,
    steps: [steps.slice(0, 3), steps.slice(3, 6), steps.slice(6, 9)] as Mat3,
    dims: values('grid_dims') as [number, number, number]
  };
}

function openPart(url: H5Url): { part: Part; grid: Grid; group: Group } {
  const file = openForReading(url.file);
  const group = file.get(url.path);
  const v = group instanceof Group ? group.get('v') : null;
  const n = group instanceof Group ? group.get('n') : null;
  if (!(group instanceof Group) || !(v instanceof Dataset) || !(n instanceof Dataset)) {
    file.close();
    throw new InputError(`${formatH5Url(url)} is not a transform group with v and n`);
  }
  return { part: { url, file, v, n }, grid: gridOf(group, formatH5Url(url)), group };
}

export async function mergeTransforms(
  output: H5Url,
  inputs: H5Url[],
  command: string
): Promise<void> {
  await initHdf5();
  if (inputs.length === 0) {
    throw new InputError(
      'merge needs at least one part: nexus-transform merge OUT#/group PART1#/group …'
    );
  }
  refuseSameFile(output, inputs, 'parts');
  const parts: Part[] = [];
  try {
    let reference: { grid: Grid; group: Group; source: string } | undefined;
    for (const url of inputs) {
      const opened = openPart(url);
      parts.push(opened.part);
      reference ??= { grid: opened.grid, group: opened.group, source: formatH5Url(url) };
      if (JSON.stringify(opened.grid) !== JSON.stringify(reference.grid)) {
        throw new InputError(
          `${formatH5Url(url)} is on a different grid than ${reference.source}; parts must share the grid`
        );
      }
    }
    const { grid, group, source } = reference!;
    const geometry = readGeometryNexus(group, 'process', source);
    const writer = new TransformWriter(output, grid);
    try {
      for (let l = 0; l < grid.dims[2]; l += writer.layersPerBlock) {
        const layers: [number, number] = [l, Math.min(grid.dims[2], l + writer.layersPerBlock)];
        const v = new Float64Array((layers[1] - l) * grid.dims[0] * grid.dims[1]);
        const n = new Float64Array(v.length);
        for (const part of parts) {
          const pv = part.v.slice([layers]) as Float64Array;
          const pn = part.n.slice([layers]) as Float64Array;
          for (let i = 0; i < v.length; i++) {
            v[i] += pv[i];
            n[i] += pn[i];
          }
        }
        writer.writeLayers(v, n);
      }
      writer.finish({
        command,
        parameters: {
          operation: 'merge',
          output: formatH5Url(output),
          parts: inputs.map(formatH5Url)
        },
        geometry
      });
    } finally {
      writer.close();
    }
  } finally {
    parts.forEach(p => p.file.close());
  }
}
