import type { GroupOutline, WorkerRequest } from '../hdf5/messages.js';
import type { PoolRequest, WorkerPool } from '../hdf5/pool.js';
import { toJson } from '../http/respond.js';

// /meta JSON text. Describing a child costs two HDF5 object opens, so a group with many
// children is described by all workers at once: the file's worker lists the children, each
// worker describes a contiguous share, and the shares are joined in order.

/** Below this many children, splitting costs more in messages than it saves. */
const SPLIT_ABOVE = 2000;

type MetaBase = Omit<Extract<WorkerRequest, { op: 'meta' }>, 'id' | 'op' | 'outlineAbove'>;

export async function metaJson(pool: WorkerPool, base: MetaBase): Promise<string> {
  const meta = await pool.run<string | GroupOutline>({
    ...base,
    op: 'meta',
    outlineAbove: pool.size > 1 ? SPLIT_ABOVE : null
  });
  return typeof meta === 'string' ? meta : groupJson(pool, base, meta);
}

async function groupJson(pool: WorkerPool, base: MetaBase, outline: GroupOutline): Promise<string> {
  const names = outline.childNames;
  const share = Math.ceil(names.length / pool.size);
  const shares = await Promise.all(
    Array.from({ length: pool.size }, (_, slot) => {
      const req: PoolRequest = {
        ...base,
        op: 'metaChildren',
        path: outline.path,
        names: names.slice(slot * share, (slot + 1) * share)
      };
      return pool.run<string>(req, slot);
    })
  );
  // each share is the JSON text of an array: keep what is between its brackets
  const children = shares
    .map(s => s.slice(1, -1))
    .filter(s => s !== '')
    .join(',');
  // key order as in h5grove's output (sorted)
  return `{"attributes":${toJson(outline.attributes)},"children":[${children}],"kind":"group","name":${JSON.stringify(outline.name)}}`;
}
