// Frames read as raw bytes by an h5wasm worker (little-endian: h5wasm reads in that order),
// viewed as the typed array the native kernel takes.
import type { PixelArray } from './native.js';

/** An HDF5 numeric type as h5wasm describes it: class 0 integer, 1 float; size in bytes. */
export interface PixelType {
  h5class: number;
  size: number;
  signed: boolean;
}

/** The bytes as pixels without a copy, or undefined for a type the kernel does not take. */
export function pixelsOfBytes(bytes: ArrayBuffer, type: PixelType): PixelArray | undefined {
  if (type.h5class === 1) {
    return type.size === 4
      ? new Float32Array(bytes)
      : type.size === 8
        ? new Float64Array(bytes)
        : undefined;
  }
  if (type.h5class !== 0) {
    return undefined;
  }
  switch (type.size) {
    case 1:
      return type.signed ? new Int8Array(bytes) : new Uint8Array(bytes);
    case 2:
      return type.signed ? new Int16Array(bytes) : new Uint16Array(bytes);
    case 4:
      return type.signed ? new Int32Array(bytes) : new Uint32Array(bytes);
    case 8:
      // the kernel has no 64-bit integer path: counts that large are exact in float64 up to 2^53
      return Float64Array.from(
        type.signed ? new BigInt64Array(bytes) : new BigUint64Array(bytes),
        Number
      );
    default:
      return undefined;
  }
}
