import type { DtypeOption } from '../../src/protocol/h5grove.js';
import type { DatasetDescription } from '../hdf5/messages.js';
import { HttpError } from '../http/errors.js';

// Numeric arrays as read from h5wasm (always little-endian in memory) and their conversion to
// h5grove's `origin` and `safe` representations (h5grove-protocol.md §5.2).

export type NumericValues =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

const H5T_FLOAT = 1;
const H5T_INTEGER = 0;

/** IEEE 754 half precision (float16) bits to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) {
    return sign * 2 ** -14 * (frac / 1024);
  }
  if (exp === 31) {
    return frac ? NaN : sign * Infinity;
  }
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** x87 80-bit extended precision stored little-endian in 16 bytes (float128 on x86-64). */
function extendedToDouble(bytes: Uint8Array, off: number): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + off, 10);
  const mant = dv.getBigUint64(0, true);
  const se = dv.getUint16(8, true);
  const sign = se & 0x8000 ? -1 : 1;
  const exp = se & 0x7fff;
  if (exp === 0x7fff) {
    return mant << 1n === 0n ? sign * Infinity : NaN;
  }
  if (exp === 0 && mant === 0n) {
    return sign * 0;
  }
  return sign * Number(mant) * 2 ** (exp - 16383 - 63);
}

function copyAligned(bytes: Uint8Array): ArrayBuffer {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out.buffer;
}

/** Decode little-endian memory bytes into values (float16/float128 widened). */
export function decode(desc: DatasetDescription, bytes: Uint8Array): NumericValues {
  const buf = copyAligned(bytes);
  const isFloat = desc.h5class === H5T_FLOAT;
  if (isFloat) {
    switch (desc.size) {
      case 2: {
        const h = new Uint16Array(buf);
        return Float32Array.from(h, halfToFloat);
      }
      case 4:
        return new Float32Array(buf);
      case 8:
        return new Float64Array(buf);
      default: {
        const n = bytes.length / desc.size;
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          out[i] = extendedToDouble(bytes, i * desc.size);
        }
        return out;
      }
    }
  }
  const signed = desc.signed && !desc.boolEnum;
  switch (desc.size) {
    case 1:
      return signed ? new Int8Array(buf) : new Uint8Array(buf);
    case 2:
      return signed ? new Int16Array(buf) : new Uint16Array(buf);
    case 4:
      return signed ? new Int32Array(buf) : new Uint32Array(buf);
    case 8:
      return signed ? new BigInt64Array(buf) : new BigUint64Array(buf);
    default:
      throw new HttpError(422, `Unsupported integer size ${desc.size}`);
  }
}

function kindChar(desc: DatasetDescription): string {
  if (desc.boolEnum) {
    return 'b';
  }
  if (desc.h5class === H5T_FLOAT) {
    return 'f';
  }
  return desc.signed && desc.h5class !== 4 ? 'i' : 'u';
}

/** NumPy descr of the bytes we send for this dtype option. */
export function outputDescr(desc: DatasetDescription, dtype: DtypeOption): string {
  const kind = kindChar(desc);
  let size = desc.size;
  if (dtype === 'safe' && kind === 'f') {
    size = size === 2 ? 4 : size > 8 ? 8 : size;
  }
  if (size === 1) {
    return `|${kind}1`;
  }
  const order = dtype === 'safe' || desc.littleEndian ? '<' : '>';
  return `${order}${kind}${size}`;
}

/** Raw bytes for `bin`/`npy` in the requested representation. */
export function outputBytes(
  desc: DatasetDescription,
  dtype: DtypeOption,
  bytes: Uint8Array
): Buffer {
  if (dtype === 'safe') {
    if (desc.h5class === H5T_FLOAT && desc.size !== 4 && desc.size !== 8) {
      const v = decode(desc, bytes);
      return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    }
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  if (!desc.littleEndian && desc.size > 1) {
    // h5wasm reads little-endian; `origin` must restore the stored byte order.
    const out = Buffer.from(bytes);
    for (let i = 0; i < out.length; i += desc.size) {
      out.subarray(i, i + desc.size).reverse();
    }
    return out;
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function toNumber(v: number | bigint): number {
  return typeof v === 'bigint' ? Number(v) : v;
}

export function isIntegerClass(desc: DatasetDescription): boolean {
  return desc.h5class === H5T_INTEGER || desc.h5class !== H5T_FLOAT;
}
