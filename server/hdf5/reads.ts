import { Dataset, Module, Reference } from 'h5wasm/node';
import type { AxisSelection } from '../h5grove/selection.js';
import { axisCount } from '../h5grove/selection.js';
import { HttpError } from '../http/errors.js';

// Data reads inside a worker. Numeric data goes through the low-level hyperslab read so that
// float16 works and memory stays bounded; the caller splits large reads along axis 0.

/** Filters compiled into the h5wasm core; anything else needs a plugin. */
const BUILTIN_FILTERS = new Set([1, 2, 3, 4, 5, 6]);

/** Turn an opaque HDF5 failure into a message naming the missing filter, when that is the cause. */
export function explainReadError(ds: Dataset, path: string, err: unknown): Error {
  const text = err instanceof Error ? err.message : String(err);
  let filters: { id: number; name: string }[] = [];
  try {
    filters = ds.filters;
  } catch {
    // keep the original message
  }
  const external = filters.filter(f => !BUILTIN_FILTERS.has(f.id));
  if (external.length > 0 && /filter|plugin/i.test(text)) {
    const names = external.map(f => `${f.id} (${f.name})`).join(', ');
    return new HttpError(500, `Cannot read dataset ${path}: HDF5 filter ${names} not available`);
  }
  return new HttpError(500, `Cannot read dataset ${path}: ${text.split('\n')[0]}`);
}

export function readBytes(ds: Dataset, path: string, axes: AxisSelection[]): ArrayBuffer {
  const m = ds.metadata;
  const counts = axes.map(axisCount);
  const n = counts.reduce((a, b) => a * b, 1);
  const nbytes = n * m.size;
  if (n === 0) {
    return new ArrayBuffer(0);
  }
  const ptr = Module._malloc(nbytes);
  if (ptr === 0) {
    throw new HttpError(500, `Memory allocation of ${nbytes} bytes failed`);
  }
  try {
    const scalar = axes.length === 0;
    Module.get_dataset_data(
      ds.file_id,
      path,
      scalar ? null : counts.map(BigInt),
      scalar ? null : axes.map(a => BigInt(a.start)),
      scalar ? null : axes.map(a => BigInt(a.step)),
      BigInt(ptr)
    );
    const out = new Uint8Array(nbytes);
    out.set(Module.HEAPU8.subarray(ptr, ptr + nbytes));
    return out.buffer;
  } catch (err) {
    throw explainReadError(ds, path, err);
  } finally {
    Module._free(ptr);
  }
}

/** Convert h5wasm output to what JSON can carry (h5grove-protocol.md §5.1). */
export function toJsonValue(v: unknown): unknown {
  if (typeof v === 'bigint') {
    return Number(v);
  }
  if (v instanceof Reference) {
    return 'Reference';
  }
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    return Array.from(v as unknown as ArrayLike<number | bigint>, toJsonValue);
  }
  if (Array.isArray(v)) {
    return v.map(toJsonValue);
  }
  if (typeof v === 'number' && !Number.isFinite(v)) {
    return null;
  }
  return v;
}

export function nest(flat: unknown[], shape: number[]): unknown {
  if (shape.length === 0) {
    return flat[0];
  }
  if (shape.length === 1) {
    return flat;
  }
  const [, ...rest] = shape;
  const stride = rest.reduce((a, b) => a * b, 1);
  const out: unknown[] = [];
  for (let i = 0; i < shape[0]; i++) {
    out.push(nest(flat.slice(i * stride, (i + 1) * stride), rest));
  }
  return out;
}

/** Upper bound for a JSON read of non-numeric data, which cannot be streamed. */
const MAX_JSON_BYTES = 256 * 1024 * 1024;

export function readJson(
  ds: Dataset,
  path: string,
  axes: AxisSelection[],
  flatten: boolean
): unknown {
  const m = ds.metadata;
  if (m.shape === null) {
    return null;
  }
  const counts = axes.map(axisCount);
  const n = counts.reduce((a, b) => a * b, 1);
  if (n * m.size > MAX_JSON_BYTES) {
    throw new HttpError(413, `Selection of ${path} is too large for JSON; narrow the selection`);
  }
  const shape = axes.filter(a => !a.drop).map(axisCount);
  if (n === 0) {
    return flatten ? [] : nest([], shape);
  }
  let raw: unknown;
  try {
    raw =
      axes.length === 0
        ? ds.value
        : ds.slice(axes.map(a => [a.start, a.stop, a.step] as [number, number, number]));
  } catch (err) {
    throw explainReadError(ds, path, err);
  }
  if (axes.length === 0 || (!Array.isArray(raw) && !ArrayBuffer.isView(raw))) {
    const v = toJsonValue(raw);
    return Array.isArray(v) && shape.length === 0 ? v : v;
  }
  const flat = toJsonValue(raw) as unknown[];
  if (shape.length === 0) {
    return flat[0];
  }
  return flatten ? flat : nest(flat, shape);
}
