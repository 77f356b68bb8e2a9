// The raw detector stack data[frame][y][x], read a block of whole frames at a time so that
// a scan never has to fit in memory.
import { Dataset, File } from 'h5wasm/node';
import { formatH5Url, openForReading, requireDataset, type H5Url } from './hdf5-access.js';
import { InputError } from './input-error.js';
import type { PixelArray } from './native.js';
import type { PixelType } from './pixel-bytes.js';

export class RawStack {
  readonly frames: number;
  readonly rows: number;
  readonly cols: number;
  private readonly file: File;
  private readonly dataset: Dataset;

  constructor(readonly url: H5Url) {
    this.file = openForReading(url.file);
    try {
      this.dataset = requireDataset(this.file, url, 'raw data');
      const shape = this.dataset.shape ?? [];
      const { type, size } = this.dataset.metadata;
      // h5wasm type classes: 0 integer, 1 float
      if (shape.length !== 3 || !(type === 0 || (type === 1 && size >= 4))) {
        throw new InputError(
          `raw data ${formatH5Url(url)} must be a 3-D integer or float32/64 stack (frames, rows, cols); it is ${this.dataset.dtype} (${shape})`
        );
      }
      [this.frames, this.rows, this.cols] = shape;
    } catch (e) {
      this.file.close();
      throw e;
    }
  }

  get bytesPerFrame(): number {
    return this.rows * this.cols * this.dataset.metadata.size;
  }

  get pixelType(): PixelType {
    const { type, size, signed } = this.dataset.metadata;
    return { h5class: type, size, signed };
  }

  /** Frames [first, first + count), consecutive; 64-bit integers widened to float64 for the kernel. */
  read(first: number, count: number): PixelArray {
    const values = this.dataset.slice([[first, first + count]]) as
      PixelArray | BigInt64Array | BigUint64Array;
    return values instanceof BigInt64Array || values instanceof BigUint64Array
      ? Float64Array.from(values, Number)
      : values;
  }

  close(): void {
    this.file.close();
  }
}
