import type { GroupOutline, WorkerRequest } from '../hdf5/messages.js';
import type { PoolRequest, WorkerPool } from '../hdf5/pool.js';
import { toJson } from '../http/respond.js';
import { readInOrder } from './ordered-reads.js';

// /meta JSON text. Describing a child costs two HDF5 object opens, so a group with many
// children is described by all workers at once: the file's worker lists the children, the
// workers describe contiguous shares of them as each becomes free, and the shares are joined in
// order.

/** Below this many children, splitting costs more in messages than it saves. */
const SPLIT_ABOVE = 2000;
/** shares per worker: a worker that is slower (cold caches, other load) takes fewer */
const SHARES_PER_WORKER = 4;

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
  const share = Math.ceil(names.length / (pool.size * SHARES_PER_WORKER));
  const count = Math.ceil(names.length / share);
  const parts: string[] = [];
  const shares = readInOrder(count, pool.size, count, (i, worker) => {
    const req: PoolRequest = {
      ...base,
      op: 'metaChildren',
      path: outline.path,
      names: names.slice(i * share, (i + 1) * share)
    };
    return pool.run<string>(req, worker);
  });
  for await (const part of shares) {
    // each share is the JSON text of a non-empty array: keep what is between its brackets
    parts.push(part.slice(1, -1));
  }
  // key order as in h5grove's output (sorted)
  return `{"attributes":${toJson(outline.attributes)},"children":[${parts.join(',')}],"kind":"group","name":${JSON.stringify(outline.name)}}`;
}
