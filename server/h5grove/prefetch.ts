import type { DatasetDescription } from '../hdf5/messages.js';
import type { PoolRequest, WorkerPool } from '../hdf5/pool.js';
import type { CachedBody, ResponseCache } from './cache.js';
import { normalizeSelection } from './selection.js';

// Scrubbing the slice slider of a stack asks for the next (or previous) frames right after the
// current one. Once a frame is served, the frames up to READ_AHEAD away are read into the
// response cache by idle workers, nearest first — along each axis selected by a single index on
// which the dataset is chunked frame by frame (chunk extent 1), so that a neighbour costs what the
// served frame cost and no more. Reading two ahead lets two workers decode alternate frames while
// the user scrubs in one direction. Bounded: only workers with nothing in flight take one, a
// frame already cached or pending is skipped, and the cache's byte budget applies; a user request
// never waits for more than one frame's read.

const READ_AHEAD = 2;
const INDEX = /^\s*-?\d+\s*$/;

/**
 * Selection strings of the frames up to READ_AHEAD away along each frame-chunked single-index
 * member: nearest first, and at equal distance the next one before the previous one.
 */
export function neighbourSelections(
  selection: string,
  shape: number[],
  chunks: number[]
): string[] {
  const members = selection.split(',');
  const out: string[] = [];
  for (let distance = 1; distance <= READ_AHEAD; distance++) {
    for (const step of [distance, -distance]) {
      members.forEach((member, axis) => {
        if (!INDEX.test(member) || axis >= shape.length || chunks[axis] !== 1) {
          return;
        }
        const raw = Number(member);
        const neighbour = (raw < 0 ? raw + shape[axis] : raw) + step;
        if (neighbour >= 0 && neighbour < shape[axis]) {
          out.push(members.map((m, a) => (a === axis ? String(neighbour) : m)).join(','));
        }
      });
    }
  }
  return out;
}

/** What a frame request leaves for prefetching: everything but the selection. */
export interface PrefetchContext {
  pool: WorkerPool;
  cache: ResponseCache;
  /** the served request, for the workers (file, path, links) */
  base: Omit<Extract<PoolRequest, { op: 'readBytes' }>, 'op' | 'axes'>;
  desc: DatasetDescription & { shape: number[]; chunks: number[] };
  /** cache key of the same request with another selection */
  keyFor: (selection: string) => string;
  /** the response body for a selection's bytes, as the handler would send it */
  encode: (bytes: Uint8Array) => CachedBody;
}

/**
 * The prefetch to run once the response for `selection` is served. Prefetched responses carry
 * their own, so scrubbing on through prefetched frames keeps reading ahead.
 */
export function prefetcher(p: PrefetchContext): (selection: string) => () => void {
  const after = (selection: string) => (): void => {
    const idle = p.pool.idleSlots();
    for (const neighbour of neighbourSelections(selection, p.desc.shape, p.desc.chunks)) {
      const key = p.keyFor(neighbour);
      if (p.cache.covers(key)) {
        continue;
      }
      const slot = idle.shift();
      if (slot === undefined) {
        return;
      }
      const { axes } = normalizeSelection(neighbour, p.desc.shape);
      p.cache.fill(key, async () => {
        const bytes = await p.pool.run<ArrayBuffer>({ ...p.base, op: 'readBytes', axes }, slot);
        return { ...p.encode(new Uint8Array(bytes)), afterServe: after(neighbour) };
      });
    }
  };
  return after;
}
