import type { DataFormat, DtypeOption } from '../../src/protocol/h5grove.js';
import type { ServerResponse } from 'node:http';
import type { ResolvedFile } from '../files/roots.js';
import type { DatasetDescription } from '../hdf5/messages.js';
import type { WorkerPool, PoolRequest } from '../hdf5/pool.js';
import { HttpError } from '../http/errors.js';
import type { AxisSelection, NormalizedSelection } from './selection.js';
import { readInOrder } from './ordered-reads.js';
import { axisCount } from './selection.js';

// Planning of numeric reads: a selection is split along its first axis into pieces of at most
// READ_BUDGET bytes (the wasm heap is capped at 2 GiB), and pieces go to all workers in parallel.
// A parallel read is cut into several pieces per worker so that the workers share it out evenly
// even when the machine's other load slows one of them.

/** pieces per worker of a parallel read: the last piece of an uneven share is this small */
const PIECES_PER_WORKER = 8;

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

function plan(
  pool: WorkerPool,
  req: DataRequest,
  desc: DatasetDescription,
  sel: NormalizedSelection
) {
  const total = sel.axes.map(axisCount).reduce((a, b) => a * b, 1) * desc.size;
  // A cross-section through a chunked stack decompresses one chunk per row even when it keeps
  // little of each: spread such reads (or merely large ones) over all workers.
  const chunkRows =
    desc.chunks !== null && sel.axes.length > 0
      ? Math.ceil(axisCount(sel.axes[0]) / Math.max(1, desc.chunks[0]))
      : 0;
  const parallel =
    desc.chunks !== null && (chunkRows >= 8 || total > 4 * 1024 * 1024)
      ? pool.size * PIECES_PER_WORKER
      : 1;
  const pieces = splitAxis0(sel.axes, desc.size, parallel);
  const base = {
    file: req.file,
    basename: req.file.basename,
    path: req.path,
    resolveLinks: req.resolveLinks
  };
  /** the pieces in order; a single piece goes to the worker that owns the file */
  const reads = (): AsyncGenerator<Uint8Array> =>
    readInOrder(pieces.length, pool.size, 2 * pool.size, (i, worker) =>
      pool
        .run<ArrayBuffer>(
          { ...base, op: 'readBytes', axes: pieces[i] },
          pieces.length > 1 ? worker : undefined
        )
        .then(b => new Uint8Array(b))
    );
  return { pieces, reads };
}

/** Read numeric bytes (little-endian memory layout) of a selection, in parallel pieces. */
export async function readNumericBytes(
  pool: WorkerPool,
  req: DataRequest,
  desc: DatasetDescription,
  sel: NormalizedSelection
): Promise<Uint8Array> {
  const buffers: Uint8Array[] = [];
  for await (const piece of plan(pool, req, desc, sel).reads()) {
    buffers.push(piece);
  }
  return buffers.length === 1 ? buffers[0] : Buffer.concat(buffers);
}

/**
 * Stream a multi-piece numeric read: a bounded number of pieces are in memory at once, and the
 * body is written in C order as pieces complete. Returns false when one piece suffices (the
 * caller then answers normally, which also allows caching).
 */
export async function streamNumeric(
  pool: WorkerPool,
  req: DataRequest,
  desc: DatasetDescription,
  sel: NormalizedSelection,
  outElemSize: number,
  encode: (piece: Uint8Array) => Buffer,
  res: ServerResponse
): Promise<boolean> {
  const { pieces, reads } = plan(pool, req, desc, sel);
  if (pieces.length <= 1) {
    return false;
  }
  const n = sel.axes.map(axisCount).reduce((a, b) => a * b, 1);
  for await (const piece of reads()) {
    // The first piece decides between a JSON error and a 200: once headers are out, a later
    // failure can only abort the connection (the client sees a short body).
    if (!res.headersSent) {
      res.writeHead(200, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(n * outElemSize)
      });
    }
    if (!res.write(encode(piece)) && !(await drainedOrClosed(res))) {
      // The client is gone: leaving the loop stops the reads still planned and frees the pieces
      // held for it (waiting for a 'drain' that never comes would keep them forever).
      return true;
    }
  }
  res.end();
  return true;
}

/** Resolves true once the client took the buffered body, false if the connection closed first. */
function drainedOrClosed(res: ServerResponse): Promise<boolean> {
  if (res.destroyed) {
    return Promise.resolve(false);
  }
  return new Promise(resolve => {
    const settle = (drained: boolean) => (): void => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(drained);
    };
    const onDrain = settle(true);
    const onClose = settle(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
