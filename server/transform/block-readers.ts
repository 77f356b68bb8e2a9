// Blocks of consecutive raw frames, decompressed by a pool of h5wasm workers (one block per
// request, blocks dealt round-robin), so that several blocks decompress at once: gzip, not the
// binning, is the slow part of a transform. The caller bounds how many blocks are in flight.
import fs from 'node:fs';
import path from 'node:path';
import { HttpError } from '../http/errors.js';
import type { FileKey } from '../hdf5/messages.js';
import { WorkerPool } from '../hdf5/pool.js';
import { workerLocation } from '../hdf5/worker-location.js';
import { formatH5Url, type H5Url } from './hdf5-access.js';
import { InputError } from './input-error.js';
import type { PixelArray } from './native.js';
import { pixelsOfBytes, type PixelType } from './pixel-bytes.js';

/** The longest timer Node allows: a batch read has no deadline. */
const NO_TIMEOUT_MS = 2 ** 31 - 1;

export interface StackLayout {
  url: H5Url;
  rows: number;
  cols: number;
  pixelType: PixelType;
}

/** Frames [first, first + count). */
export interface FrameBlock {
  first: number;
  count: number;
}

/** Consecutive blocks of `size` frames covering [first, end). */
export function blocksOf(first: number, end: number, size: number): FrameBlock[] {
  return Array.from({ length: Math.ceil((end - first) / size) }, (_, b) => ({
    first: first + b * size,
    count: Math.min(size, end - first - b * size)
  }));
}

export class BlockReaders {
  private readonly pool: WorkerPool;
  private readonly file: FileKey;
  private nextSlot = 0;

  constructor(
    private readonly stack: StackLayout,
    readonly workers: number
  ) {
    const stat = fs.statSync(stack.url.file);
    // the key the workers reopen on: a file rewritten during the run is read as a new file
    this.file = {
      realPath: fs.realpathSync(stack.url.file),
      mtimeMs: stat.mtimeMs,
      size: stat.size
    };
    this.pool = new WorkerPool({ ...workerLocation(), size: workers, timeoutMs: NO_TIMEOUT_MS });
  }

  /** Frames [first, first + count) as one array, frame after frame. */
  async read(first: number, count: number): Promise<PixelArray> {
    const { url, rows, cols, pixelType } = this.stack;
    let bytes: ArrayBuffer;
    try {
      bytes = await this.pool.run<ArrayBuffer>(
        {
          op: 'readBytes',
          file: this.file,
          basename: path.basename(url.file),
          path: url.path,
          resolveLinks: 'only_valid',
          axes: [
            { start: first, stop: first + count, step: 1, drop: false },
            { start: 0, stop: rows, step: 1, drop: false },
            { start: 0, stop: cols, step: 1, drop: false }
          ]
        },
        this.nextSlot++ % this.workers
      );
    } catch (e) {
      // the worker speaks HTTP; a damaged or unreadable file is bad input to this program
      throw e instanceof HttpError && e.status < 500
        ? new InputError(`${formatH5Url(url)}: ${e.message}`)
        : e;
    }
    const pixels = pixelsOfBytes(bytes, pixelType);
    if (!pixels) {
      throw new InputError(`raw data ${formatH5Url(url)}: unsupported pixel type`);
    }
    return pixels;
  }

  /**
   * The blocks in order, each read by the next reader while earlier ones are consumed: the first
   * `ahead` reads start now, and one more each time a block is taken. Binning in frame order
   * keeps the sums' rounding independent of which reader finished first.
   */
  inOrder(
    blocks: FrameBlock[],
    ahead: number
  ): AsyncGenerator<FrameBlock & { frames: PixelArray }> {
    const pending: Promise<PixelArray>[] = [];
    const request = (b: number): void => {
      if (b < blocks.length) {
        const read = this.read(blocks[b].first, blocks[b].count);
        // awaited in turn, or dropped when the consumer stops early
        read.catch(() => undefined);
        pending.push(read);
      }
    };
    for (let b = 0; b < ahead; b++) {
      request(b);
    }
    return (async function* () {
      for (const [b, block] of blocks.entries()) {
        const frames = await pending.shift()!;
        request(b + ahead);
        yield { ...block, frames };
      }
    })();
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
