// Whole raw frames through the h5wasm worker pool (HDF5 is synchronous: the event loop never
// decompresses), spread over every worker so that frames decompress in parallel, and through
// the shared frame cache. A frame being read for one request is not read again for another.
import type { ResolvedFile } from '../files/roots.js';
import { HttpError } from '../http/errors.js';
import type { DatasetDescription, Description } from '../hdf5/messages.js';
import type { WorkerPool } from '../hdf5/pool.js';
import type { PixelArray } from '../transform/native.js';
import { pixelsOfBytes } from '../transform/pixel-bytes.js';
import { FrameCache } from './frame-cache.js';

function typedArrayOf(desc: DatasetDescription, bytes: ArrayBuffer): PixelArray {
  if (!desc.littleEndian && desc.size > 1) {
    throw new HttpError(422, 'big-endian frames are not supported');
  }
  const pixels = pixelsOfBytes(bytes, desc);
  if (!pixels) {
    throw new HttpError(
      422,
      `frames of HDF5 class ${desc.h5class}, ${desc.size} bytes are not supported`
    );
  }
  return pixels;
}

export class FrameReader {
  private readonly inFlight = new Map<string, Promise<PixelArray>>();
  private nextSlot = 0;
  /** frames read from the file (not from the cache), for tests and benchmarks */
  reads = 0;

  constructor(
    private readonly pool: WorkerPool,
    private readonly cache: FrameCache
  ) {}

  async describe(file: ResolvedFile, dataset: string): Promise<DatasetDescription> {
    const desc = await this.pool.run<Description>({
      op: 'describe',
      file,
      basename: file.basename,
      path: dataset,
      resolveLinks: 'only_valid'
    });
    if (desc.kind !== 'dataset' || !desc.numeric || desc.shape?.length !== 3) {
      throw new HttpError(422, `${dataset} is not a 3-D numeric stack of frames`);
    }
    return desc;
  }

  /** How many frames may be read at once: one per worker. */
  get parallelism(): number {
    return this.pool.size;
  }

  read(
    file: ResolvedFile,
    dataset: string,
    desc: DatasetDescription,
    frame: number
  ): Promise<PixelArray> {
    const key = FrameCache.key(file, dataset, frame);
    const cached = this.cache.get(key);
    if (cached) {
      return Promise.resolve(cached);
    }
    let pending = this.inFlight.get(key);
    if (!pending) {
      const [, rows, cols] = desc.shape!;
      const slot = this.nextSlot++ % this.pool.size;
      this.reads++;
      pending = this.pool
        .run<ArrayBuffer>(
          {
            op: 'readBytes',
            file,
            basename: file.basename,
            path: dataset,
            resolveLinks: 'only_valid',
            axes: [
              { start: frame, stop: frame + 1, step: 1, drop: false },
              { start: 0, stop: rows, step: 1, drop: false },
              { start: 0, stop: cols, step: 1, drop: false }
            ]
          },
          slot
        )
        .then(bytes => {
          const values = typedArrayOf(desc, bytes);
          this.cache.set(key, values);
          return values;
        })
        .finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }
}
