import type { DataFormat, DtypeOption } from '../../src/protocol/h5grove.js';
import type { ResolvedFile } from '../files/roots.js';
import type { DatasetDescription } from '../hdf5/messages.js';
import type { WorkerPool, PoolRequest } from '../hdf5/pool.js';
import { HttpError } from '../http/errors.js';
import type { AxisSelection, NormalizedSelection } from './selection.js';
import { axisCount } from './selection.js';

// Planning of numeric reads: a selection is split along its first axis into pieces of at most
// READ_BUDGET bytes (the wasm heap is capped at 2 GiB), and pieces go to all workers in parallel.

export const READ_BUDGET = 256 * 1024 * 1024;

export interface DataRequest {
  file: ResolvedFile;
  path: string;
  resolveLinks: PoolRequest['resolveLinks'];
  format: DataFormat;
  dtype: DtypeOption;
  flatten: boolean;
}

function splitAxis0(axes: AxisSelection[], elemSize: number, minPieces: number): AxisSelection[][] {
  if (axes.length === 0) {
    return [axes];
  }
  const counts = axes.map(axisCount);
  const rowBytes = counts.slice(1).reduce((a, b) => a * b, 1) * elemSize;
  const rows = counts[0];
  if (rows <= 1) {
    if (rowBytes > READ_BUDGET) {
      throw new HttpError(
        413,
        `A single row of this selection exceeds ${READ_BUDGET} bytes; narrow the selection`
      );
    }
    return [axes];
  }
  const byBudget = Math.max(1, Math.floor(READ_BUDGET / Math.max(1, rowBytes)));
  const byParallel = Math.ceil(rows / minPieces);
  const perPiece = Math.max(1, Math.min(byBudget, byParallel));
  const first = axes[0];
  const pieces: AxisSelection[][] = [];
  for (let r = 0; r < rows; r += perPiece) {
    const n = Math.min(perPiece, rows - r);
    const start = first.start + r * first.step;
    pieces.push([{ ...first, start, stop: start + (n - 1) * first.step + 1 }, ...axes.slice(1)]);
  }
  return pieces;
}

/** Read numeric bytes (little-endian memory layout) of a selection, in parallel pieces. */
export async function readNumericBytes(
  pool: WorkerPool,
  req: DataRequest,
  desc: DatasetDescription,
  sel: NormalizedSelection
): Promise<Uint8Array> {
  const total = sel.axes.map(axisCount).reduce((a, b) => a * b, 1) * desc.size;
  // Cross-sections of chunked data decompress many chunks: spread them over all workers.
  const parallel = desc.chunks !== null && total > 4 * 1024 * 1024 ? pool.size : 1;
  const pieces = splitAxis0(sel.axes, desc.size, parallel);
  const base = {
    file: req.file,
    basename: req.file.basename,
    path: req.path,
    resolveLinks: req.resolveLinks
  };
  const buffers = await Promise.all(
    pieces.map((axes, i) =>
      pool.run<ArrayBuffer>({ ...base, op: 'readBytes', axes }, pieces.length > 1 ? i : undefined)
    )
  );
  if (buffers.length === 1) {
    return new Uint8Array(buffers[0]);
  }
  return Buffer.concat(buffers.map(b => new Uint8Array(b)));
}
