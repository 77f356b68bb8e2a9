// The raw detector stack data[frame][y][x], read a block of whole frames at a time so that
// a scan never has to fit in memory.
import { Dataset, File } from 'h5wasm/node';
import { formatH5Url, openForReading, requireDataset, type H5Url } from './hdf5-access.js';
import { InputError } from './input-error.js';

export type FrameValues =
  Int32Array | Uint32Array | Uint16Array | Int16Array | Uint8Array | Float32Array | Float64Array;

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

  /** Frames [first, first + count), consecutive, in a type the kernel takes (int8 widened, int64 to float64). */
  read(first: number, count: number): FrameValues {
    const values = this.dataset.slice([[first, first + count]]) as ArrayLike<number | bigint>;
    if (
      values instanceof Int32Array ||
      values instanceof Uint32Array ||
      values instanceof Uint16Array ||
      values instanceof Int16Array ||
      values instanceof Uint8Array ||
      values instanceof Float32Array ||
      values instanceof Float64Array
    ) {
      return values;
    }
    return values instanceof Int8Array
      ? Int16Array.from(values)
      : Float64Array.from(values, Number);
  }

  close(): void {
    this.file.close();
  }
}
