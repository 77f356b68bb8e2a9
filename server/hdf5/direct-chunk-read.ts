import fs from 'node:fs';
import zlib from 'node:zlib';
import type { Dataset, File as H5File } from 'h5wasm/node';
import type { AxisSelection } from '../h5grove/selection.js';
import { axisCount } from '../h5grove/selection.js';
import { MAX_CHUNKS, readChunkIndex } from './chunk-index.js';
import type { ChunkIndex } from './chunk-index.js';
import type { FileKey } from './messages.js';
import { objectAddress } from './object-address.js';
import { H5T } from './types.js';

// Numeric reads of gzip (or unfiltered) chunked datasets without HDF5's chunk pipeline: the
// worker reads the stored bytes of each chunk and inflates only up to the last byte the selection
// needs. A cross-section such as `:,800,:` through a stack of frames keeps one row of each chunk,
// yet HDF5 inflates every chunk whole (and, for a chunk above its 1 MB chunk cache, into a buffer
// grown by doubling); here a chunk is inflated only down to that row, which about halves the
// work of a cross-section through the middle of the frames. Anything else (other filters,
// big-endian or non-numeric types, external links, chunks never written, index kinds not
// understood by chunk-index.ts) returns null and is read through HDF5 as before.

const DEFLATE = 1;
/** compressed input beyond the proportional share, in case the tail of a chunk compresses worse */
const INPUT_MARGIN = 1.1;
const INPUT_SLACK_BYTES = 4096;
/** above this share of a chunk, inflate it whole */
const WHOLE_CHUNK_SHARE = 0.9;
const CACHED_INDEXES = 32;

const indexes = new Map<string, ChunkIndex | null>();

function chunkIndexOf(key: FileKey, file: H5File, fd: number, path: string, shape: number[]) {
  const cacheKey = `${key.realPath}\0${key.mtimeMs}:${key.size}\0${path}`;
  if (indexes.has(cacheKey)) {
    return indexes.get(cacheKey)!;
  }
  const address = objectAddress(file.file_id, path);
  const index = address === null ? null : readChunkIndex(fd, address, shape);
  indexes.set(cacheKey, index);
  while (indexes.size > CACHED_INDEXES) {
    indexes.delete(indexes.keys().next().value as string);
  }
  return index;
}

/** The selected indices of one axis that fall into the chunk starting at `chunkStart`. */
function axisRange(a: AxisSelection, chunkStart: number, chunkExtent: number): [number, number] {
  const count = axisCount(a);
  const first = Math.max(0, Math.ceil((chunkStart - a.start) / a.step));
  const end = Math.min(count, Math.ceil((chunkStart + chunkExtent - a.start) / a.step));
  return [first, end];
}

/** The first `needed` bytes (at least) of a chunk as it is in memory, or null if unreadable. */
function chunkBytes(
  fd: number,
  stored: { offset: number; size: number; filterMask: number },
  deflated: boolean,
  needed: number,
  wholeBytes: number
): Buffer | null {
  const compressed = deflated && (stored.filterMask & 1) === 0;
  const share = needed / wholeBytes;
  const inputBytes = !compressed
    ? needed
    : share > WHOLE_CHUNK_SHARE
      ? stored.size
      : Math.min(stored.size, Math.ceil(stored.size * share * INPUT_MARGIN) + INPUT_SLACK_BYTES);
  const input = Buffer.allocUnsafe(inputBytes);
  if (fs.readSync(fd, input, 0, inputBytes, stored.offset) !== inputBytes) {
    return null;
  }
  if (!compressed) {
    return input;
  }
  try {
    if (inputBytes < stored.size) {
      // A cut stream inflates, with a sync flush, as far as its input goes.
      const part = zlib.inflateSync(input, {
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
        chunkSize: Math.max(64 * 1024, needed)
      });
      if (part.length >= needed) {
        return part;
      }
      const whole = Buffer.allocUnsafe(stored.size);
      if (fs.readSync(fd, whole, 0, stored.size, stored.offset) !== stored.size) {
        return null;
      }
      return zlib.inflateSync(whole, { chunkSize: wholeBytes });
    }
    const out = zlib.inflateSync(input, { chunkSize: wholeBytes });
    return out.length >= needed ? out : null;
  } catch {
    // a damaged chunk: HDF5 reports it with its own message
    return null;
  }
}

/**
 * Little-endian bytes of the selection (as readBytes returns them), read chunk by chunk from the
 * file, or null when this dataset or selection is one for HDF5 to read.
 */
export function readChunksDirect(
  key: FileKey,
  file: H5File,
  ds: Dataset,
  path: string,
  axes: AxisSelection[]
): ArrayBuffer | null {
  const m = ds.metadata;
  if (
    !m.chunks ||
    !m.shape ||
    m.shape.length === 0 ||
    axes.length !== m.shape.length ||
    (m.type !== H5T.INTEGER && m.type !== H5T.FLOAT) ||
    !(m.littleEndian || m.size === 1)
  ) {
    return null;
  }
  const filters = ds.filters;
  if (filters.length > 1 || filters.some(f => f.id !== DEFLATE)) {
    return null;
  }
  const counts = axes.map(axisCount);
  const total = counts.reduce((a, b) => a * b, 1);
  const chunkDims = m.chunks;
  const chunkCount = m.shape.reduce((n, dim, d) => n * Math.ceil(dim / chunkDims[d]), 1);
  if (total === 0 || chunkCount > MAX_CHUNKS) {
    return null;
  }
  let fd: number;
  try {
    fd = fs.openSync(key.realPath, 'r');
  } catch {
    return null;
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.mtimeMs !== key.mtimeMs || st.size !== key.size) {
      return null;
    }
    const index = chunkIndexOf(key, file, fd, path, m.shape);
    if (
      index === null ||
      index.elementSize !== m.size ||
      index.chunkDims.some((c, d) => c !== chunkDims[d])
    ) {
      return null;
    }
    return copySelection(fd, index, axes, counts, m.size, filters.length > 0);
  } finally {
    fs.closeSync(fd);
  }
}

function copySelection(
  fd: number,
  index: ChunkIndex,
  axes: AxisSelection[],
  counts: number[],
  esize: number,
  deflated: boolean
): ArrayBuffer | null {
  const rank = axes.length;
  const dims = index.chunkDims;
  const wholeBytes = dims.reduce((a, b) => a * b, esize);
  const chunkStrides = dims.map((_, d) => dims.slice(d + 1).reduce((a, b) => a * b, esize));
  const outStrides = counts.map((_, d) => counts.slice(d + 1).reduce((a, b) => a * b, esize));
  const outBytes = counts.reduce((a, b) => a * b, esize);
  let out: Uint8Array<ArrayBuffer> | null = null;
  // chunk grid positions touched by the selection, per axis
  const firstChunk = axes.map((a, d) => Math.floor(a.start / dims[d]));
  const lastChunk = axes.map((a, d) => Math.floor((a.start + (counts[d] - 1) * a.step) / dims[d]));
  const grid = firstChunk.slice();
  for (;;) {
    const starts = grid.map((g, d) => g * dims[d]);
    const ranges = axes.map((a, d) => axisRange(a, starts[d], dims[d]));
    if (ranges.every(([first, end]) => first < end)) {
      const stored = index.chunks.get(starts.join(','));
      if (!stored) {
        // never written: HDF5 fills it with the fill value
        return null;
      }
      const local = (d: number, k: number): number => axes[d].start + k * axes[d].step - starts[d];
      const needed = ranges.reduce(
        (sum, [, end], d) => sum + local(d, end - 1) * chunkStrides[d],
        esize
      );
      const chunk = chunkBytes(fd, stored, deflated, needed, wholeBytes);
      if (chunk === null) {
        return null;
      }
      if (
        outBytes === wholeBytes &&
        chunk.length === wholeBytes &&
        chunk.byteOffset === 0 &&
        chunk.buffer instanceof ArrayBuffer &&
        chunk.buffer.byteLength === wholeBytes &&
        axes.every((a, d) => a.step === 1 && a.start === starts[d] && counts[d] === dims[d])
      ) {
        // a selection that is exactly one chunk (a frame of a stack): the chunk is the answer
        return chunk.buffer;
      }
      out ??= new Uint8Array(outBytes);
      copyChunk(chunk, out, axes, ranges, local, chunkStrides, outStrides, esize, rank);
    }
    let d = rank - 1;
    for (; d >= 0; d--) {
      if (++grid[d] <= lastChunk[d]) {
        break;
      }
      grid[d] = firstChunk[d];
    }
    if (d < 0) {
      return (out ?? new Uint8Array(outBytes)).buffer;
    }
  }
}

function copyChunk(
  chunk: Buffer,
  out: Uint8Array,
  axes: AxisSelection[],
  ranges: [number, number][],
  local: (d: number, k: number) => number,
  chunkStrides: number[],
  outStrides: number[],
  esize: number,
  rank: number
): void {
  const inner = rank - 1;
  const [innerFirst, innerEnd] = ranges[inner];
  const innerStep = axes[inner].step;
  const k = ranges.map(([first]) => first);
  for (;;) {
    let src = 0;
    let dst = 0;
    for (let d = 0; d < inner; d++) {
      src += local(d, k[d]) * chunkStrides[d];
      dst += k[d] * outStrides[d];
    }
    src += local(inner, innerFirst) * esize;
    dst += innerFirst * esize;
    if (innerStep === 1) {
      chunk.copy(out, dst, src, src + (innerEnd - innerFirst) * esize);
    } else {
      for (let i = innerFirst; i < innerEnd; i++) {
        chunk.copy(out, dst, src, src + esize);
        src += innerStep * esize;
        dst += esize;
      }
    }
    let d = inner - 1;
    for (; d >= 0; d--) {
      if (++k[d] < ranges[d][1]) {
        break;
      }
      k[d] = ranges[d][0];
    }
    if (d < 0) {
      return;
    }
  }
}
