// A hyperslab written straight from h5wasm's heap: the values are computed into the wasm memory
// that HDF5 writes from, instead of into a JS array that Dataset.write_slice copies twice more
// (through a Uint8Array, then into the heap) — for a 400³ result, gigabytes of copies.
import { type File, Module } from 'h5wasm/node';

type FloatArrayType = Float32ArrayConstructor | Float64ArrayConstructor;

/**
 * Writes `count` values from `offset` of the dataset at `path`, filled in by `fill`. `fill` must
 * not call h5wasm: an allocation there could grow the heap and detach the view it fills.
 */
export function writeFromHeap<T extends FloatArrayType>(
  file: File,
  path: string,
  offset: number[],
  count: number[],
  type: T,
  fill: (values: InstanceType<T>) => void
): void {
  const length = count.reduce((a, b) => a * b, 1);
  const ptr = Module._malloc(length * type.BYTES_PER_ELEMENT);
  if (ptr === 0) {
    throw new Error(`cannot allocate ${length * type.BYTES_PER_ELEMENT} bytes in the HDF5 heap`);
  }
  try {
    fill(new type(Module.HEAPU8.buffer as ArrayBuffer, ptr, length) as InstanceType<T>);
    Module.set_dataset_data(
      file.file_id,
      path,
      count.map(BigInt),
      offset.map(BigInt),
      count.map(() => 1n),
      BigInt(ptr)
    );
  } finally {
    Module._free(ptr);
  }
}
