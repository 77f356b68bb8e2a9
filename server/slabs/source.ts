// What a file offers the slab control: a raw scan (a 3-D frame stack in an entry that also holds
// the geometry and UB) or a transformed volume (an NXdata with v, n and the Qh, Qk, Ql axes).
// Read with the main-thread h5wasm instance: only group listings and a few scalars.
import { Dataset, Group } from 'h5wasm/node';
import type { SlabSource } from '../../src/protocol/slabs.js';
import type { ResolvedFile } from '../files/roots.js';
import { readGeometryNexus } from '../transform/geometry-nexus.js';
import type { Geometry } from '../transform/geometry.js';
import { initHdf5, openForReading } from '../transform/hdf5-access.js';

export type ResolvedSource =
  | { kind: 'raw'; path: string; geometry: Geometry }
  | { kind: 'volume'; path: string }
  | { kind: null; reason: string };

const VOLUME_MEMBERS = ['v', 'n', 'Qh', 'Qk', 'Ql'];

function isVolume(group: Group): boolean {
  const keys = new Set(group.keys());
  return VOLUME_MEMBERS.every(k => keys.has(k) && group.get(k) instanceof Dataset);
}

export async function resolveSource(file: ResolvedFile): Promise<ResolvedSource> {
  await initHdf5();
  const h5 = openForReading(file.realPath);
  try {
    const reasons: string[] = [];
    for (const name of h5.keys()) {
      const entry = h5.get(name);
      if (!(entry instanceof Group)) {
        continue;
      }
      const frames = entry.get('data/data');
      if (frames instanceof Dataset && frames.shape?.length === 3) {
        try {
          const geometry = readGeometryNexus(h5, `/${name}`, file.basename);
          return { kind: 'raw', path: `/${name}/data/data`, geometry };
        } catch (e) {
          reasons.push((e as Error).message);
        }
      }
      for (const child of [name, ...entry.keys().map(k => `${name}/${k}`)]) {
        const group = h5.get(child);
        if (group instanceof Group && isVolume(group)) {
          return { kind: 'volume', path: `/${child}` };
        }
      }
    }
    return {
      kind: null,
      reason:
        reasons[0] ??
        'no raw frame stack with geometry and no transformed volume (v, n, Qh, Qk, Ql)'
    };
  } finally {
    h5.close();
  }
}

export function publicSource(source: ResolvedSource): SlabSource {
  return source.kind === null
    ? { kind: null, reason: source.reason }
    : { kind: source.kind, path: source.path };
}
