// One `nexus-transform` run: raw stack → (H, K, L) grid. Blocks of frames are decompressed by
// h5wasm workers, several at once, while the native kernel bins the previous block on its own
// threads, so binning hides behind decompression; only a few blocks per worker and the v/n
// accumulators are in memory.
import os from 'node:os';
import { pixelScatteringVectors } from './forward.js';
import { readGeometryNexus } from './geometry-nexus.js';
import { loadGeometryJson, type Geometry } from './geometry.js';
import { frameMaps, voxelCount, type Grid } from './grid.js';
import {
  formatH5Url,
  initHdf5,
  openForReading,
  readSmallDataset,
  refuseSameFile,
  type H5Url
} from './hdf5-access.js';
import { InputError } from './input-error.js';
import { binFrames } from './native.js';
import { TransformWriter } from './nexus-output.js';
import { RawStack } from './raw-stack.js';
import { BlockReaders, blocksOf } from './block-readers.js';

export interface TransformRequest {
  raw: H5Url;
  /** GEOM.json; without it (or `geometry`) the geometry is read from the raw file's entry */
  geometryFile?: string;
  /** an already validated geometry and where it came from (the pipeline's refined geometry) */
  geometry?: { value: Geometry; source: string };
  grid: Grid;
  output: H5Url;
  mask?: H5Url;
  weights?: H5Url;
  subset: { index: number; count: number };
  /** binning threads */
  threads: number;
  /** h5wasm workers decompressing frames; as many as binning threads by default */
  readers?: number;
  command: string;
  onStart?: (frames: number) => void;
  onProgress?: (framesDone: number) => void;
  signal?: AbortSignal;
}

/** Bytes per block of frames: big enough to amortise a kernel call, small beside the grid. */
const BLOCK_BYTES = 32 * 1024 * 1024;
/** The kernel maps frames in groups of this many (native/README.md). */
const KERNEL_FRAME_GROUP = 4;
/** float64 values per 4 KiB page */
const PAGE_VALUES = 512;
/** Share of physical memory the accumulators and buffers may take. */
const MEMORY_SHARE = 0.8;

/** Whole kernel groups of frames, as many as fit in BLOCK_BYTES, at least one group. */
function framesPerBlock(bytesPerFrame: number): number {
  const fit = Math.floor(BLOCK_BYTES / bytesPerFrame);
  return Math.max(KERNEL_FRAME_GROUP, fit - (fit % KERNEL_FRAME_GROUP));
}

function gibibytes(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

export function subsetRange(
  frames: number,
  subset: { index: number; count: number }
): [number, number] {
  return [
    Math.floor((subset.index * frames) / subset.count),
    Math.floor(((subset.index + 1) * frames) / subset.count)
  ];
}

function geometryOf(request: TransformRequest): Geometry {
  if (request.geometry) {
    return request.geometry.value;
  }
  if (request.geometryFile) {
    return loadGeometryJson(request.geometryFile);
  }
  const file = openForReading(request.raw.file);
  try {
    const entry = request.raw.path.split('/').filter(Boolean)[0] ?? '';
    return readGeometryNexus(file, `/${entry}`, request.raw.file);
  } finally {
    file.close();
  }
}

function allocateAccumulators(
  grid: Grid,
  otherBytes: number
): { v: Float64Array; n: Float64Array } {
  const needed = voxelCount(grid) * 16 + otherBytes;
  const available = os.totalmem() * MEMORY_SHARE;
  const refuse = (): never => {
    throw new InputError(
      `grid ${grid.dims.join('×')} needs ${gibibytes(needed)} (v and n in float64 plus frame buffers) but this ` +
        `machine allows ${gibibytes(available)} (${Math.round(MEMORY_SHARE * 100)}% of ${gibibytes(os.totalmem())}, ` +
        `${gibibytes(os.freemem())} free now); use a coarser grid or a slab`
    );
  };
  if (needed > available) {
    refuse();
  }
  try {
    const v = new Float64Array(voxelCount(grid));
    const n = new Float64Array(voxelCount(grid));
    // Touched now, page by page, before the kernel advises huge pages for them: on a virtual
    // machine a fresh huge page is often memory the hypervisor has not backed yet, and its first
    // touch cost 1.5–2.5 s per GB of v and n here (perf: clear_page_erms) against 0.4–0.5 s for
    // 4 KiB pages, which come from memory used before (npm run bench:transform-cli).
    for (let i = 0; i < v.length; i += PAGE_VALUES) {
      v[i] = 0;
      n[i] = 0;
    }
    return { v, n };
  } catch (e) {
    if (e instanceof RangeError) {
      return refuse();
    }
    throw e;
  }
}

/** Where the wall time went: reading overlaps binning, so `waitingForKernel` is the part not hidden. */
export interface TransformTimings {
  reading: number;
  waitingForKernel: number;
  writing: number;
  total: number;
}

export async function runTransform(request: TransformRequest): Promise<TransformTimings> {
  const started = performance.now();
  const timings: TransformTimings = { reading: 0, waitingForKernel: 0, writing: 0, total: 0 };
  const seconds = (since: number): number => (performance.now() - since) / 1000;
  await initHdf5();
  refuseSameFile(
    request.output,
    [request.raw, request.mask, request.weights].filter((u): u is H5Url => u !== undefined),
    'inputs'
  );
  const geometry = geometryOf(request);
  const raw = new RawStack(request.raw);
  // only described on this thread: the readers decompress it
  const { url, frames, rows, cols, pixelType, bytesPerFrame } = raw;
  const stack = { url, frames, rows, cols, pixelType, bytesPerFrame };
  raw.close();
  const { grid } = request;
  const pixels = stack.rows * stack.cols;
  const [first, end] = subsetRange(stack.frames, request.subset);
  const blockFrames = framesPerBlock(stack.bytesPerFrame);
  const readers = new BlockReaders(stack, request.readers ?? request.threads);
  try {
    // started before the set-up below, which then overlaps the workers' start and first reads
    const blocks = readers.inOrder(blocksOf(first, end, blockFrames), 2 * readers.workers);
    const mask = request.mask
      ? Uint8Array.from(readSmallDataset(request.mask, 'mask', [stack.rows, stack.cols]), m =>
          m !== 0 ? 1 : 0
        )
      : undefined;
    const weights = request.weights
      ? readSmallDataset(request.weights, 'weights', [stack.frames])
      : undefined;
    // per reader: a block waiting, one being read and its copy in the worker's heap; one binning
    const { v, n } = allocateAccumulators(
      grid,
      (3 * readers.workers + 1) * blockFrames * stack.bytesPerFrame + 24 * pixels
    );
    const q = pixelScatteringVectors(geometry, stack.rows, stack.cols);
    // opened before the long part so that a bad output path fails fast
    const writer = new TransformWriter(request.output, grid);
    try {
      request.onStart?.(end - first);
      let binning: Promise<void> = Promise.resolve();
      try {
        let reading = performance.now();
        for await (const { first: start, count, frames } of blocks) {
          timings.reading += seconds(reading);
          request.signal?.throwIfAborted();
          const maps = frameMaps(geometry, grid, start, count);
          const waiting = performance.now();
          await binning;
          timings.waitingForKernel += seconds(waiting);
          const done = start - first;
          binning = binFrames({
            frames,
            frameCount: count,
            pixelCount: pixels,
            q,
            maps,
            weights: weights?.subarray(start, start + count),
            mask,
            dims: grid.dims,
            v,
            n,
            threads: request.threads,
            onProgress: f => request.onProgress?.(done + f),
            signal: request.signal
          });
          // awaited once the next block has arrived: a failure meanwhile is not unhandled
          binning.catch(() => undefined);
          reading = performance.now();
        }
      } finally {
        // the kernel writes into v and n: never leave it running behind a read error
        const waiting = performance.now();
        await binning;
        timings.waitingForKernel += seconds(waiting);
      }
      const writing = performance.now();
      writer.writeVolume(v, n);
      writer.finish({
        command: request.command,
        parameters: {
          operation: 'transform',
          raw: formatH5Url(request.raw),
          geometry:
            request.geometry?.source ?? request.geometryFile ?? `${request.raw.file} (NeXus)`,
          frames: [first, end],
          subset: `${request.subset.index}/${request.subset.count}`,
          mask: request.mask ? formatH5Url(request.mask) : null,
          weights: request.weights ? formatH5Url(request.weights) : null,
          threads: request.threads
        },
        geometry
      });
      writer.close();
      timings.writing = seconds(writing);
    } catch (e) {
      writer.close();
      throw e;
    }
  } finally {
    await readers.close();
  }
  timings.total = seconds(started);
  return timings;
}
