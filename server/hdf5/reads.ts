import { Dataset, Datatype, Group, Module, Reference } from 'h5wasm/node';
import type { Metadata } from 'h5wasm/node';
import type { AxisSelection } from '../h5grove/selection.js';
import { axisCount } from '../h5grove/selection.js';
import { halfToFloat } from '../h5grove/numeric.js';
import { HttpError } from '../http/errors.js';
import { H5T } from './types.js';

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
  // Anything else is a damaged file: the request cannot be served, but the server is fine. The
  // innermost HDF5 frame (the last one of the error stack) says what was wrong.
  const frames = [...text.matchAll(/#\d+: .* in (\w+)\(\): (.+)$/gm)];
  const reason = frames.length > 0 ? frames[frames.length - 1][2].trim() : text.split('\n')[0];
  return new HttpError(422, `Cannot read dataset ${path}: damaged file (HDF5: ${reason})`);
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
    // kept exact beyond 2^53: the main thread's toJson writes BigInt as an integer literal
    return Number.isSafeInteger(Number(v)) ? Number(v) : v;
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
    return fixAsciiStrings(toJsonValue(raw), m);
  }
  const flat = fixAsciiStrings(toJsonValue(raw), m) as unknown[];
  if (m.type === H5T.ARRAY) {
    // NumPy merges array-type dims into the array shape (ravel flattens them too). h5wasm nests
    // array data by the full dataset shape even for a slice and mutates the cached metadata
    // while doing so: re-nest the leaves with fresh element dims.
    const leaves = flat.flatMap(deepFlatten);
    if (flatten) {
      return leaves;
    }
    const fresh = Module.get_dataset_metadata(ds.file_id, path).array_type as
      { shape?: number[] } | undefined;
    const dims = fresh?.shape ?? [];
    const perElement = dims.reduce((x, y) => x * y, 1);
    const elementDims = perElement * n === leaves.length ? dims : [leaves.length / n];
    return nest(leaves, [...shape, ...elementDims]);
  }
  if (shape.length === 0) {
    return flat[0];
  }
  return flatten ? flat : nest(flat, shape);
}

/** Code points that TextDecoder('ascii') (WHATWG windows-1252) gives to bytes 0x80-0x9f. */
const CP1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152,
  0x8d, 0x17d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122,
  0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178
];
const CP1252_BYTE = new Map(CP1252_HIGH.map((cp, i) => [cp, 0x80 + i]));
const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true });

/** The bytes h5wasm decoded into `s`, or null if `s` cannot come from that decoding. */
function undoAsciiDecode(s: string, vlen: boolean): Uint8Array | null {
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Node's TextDecoder('ascii') may decode as plain latin1 rather than windows-1252: take both
    const b = vlen || c < 0x100 ? c : CP1252_BYTE.get(c);
    if (b === undefined || b > 0xff) {
      return null;
    }
    bytes[i] = b;
  }
  return bytes;
}

/**
 * h5wasm decodes ASCII-cset strings byte by byte (fixed length: TextDecoder('ascii'), which is
 * windows-1252; vlen: latin1), while h5py/h5grove decode the bytes as UTF-8: legacy files store
 * "μm" or "°" that way. Recover the bytes and decode them as UTF-8, or as latin-1 when they are
 * not valid UTF-8.
 */
export function fixAsciiStrings(v: unknown, m: Metadata): unknown {
  if (m.type !== H5T.STRING || m.cset !== 0) {
    return v;
  }
  const fix = (x: unknown): unknown => {
    if (typeof x === 'string') {
      // eslint-disable-next-line no-control-regex
      if (!/[^\u0000-\u007f]/.test(x)) {
        return x;
      }
      const bytes = undoAsciiDecode(x, m.vlen);
      if (bytes === null) {
        return x;
      }
      try {
        return UTF8_STRICT.decode(bytes);
      } catch {
        return Buffer.from(bytes).toString('latin1');
      }
    }
    return Array.isArray(x) ? x.map(fix) : x;
  };
  return fix(v);
}

/** Attribute value; float16 goes through the low-level read that h5wasm's `value` refuses. */
export function readAttribute(entity: Group | Dataset | Datatype, name: string): unknown {
  const a = entity.attrs[name];
  const m = a.metadata;
  if (m.type === H5T.FLOAT && m.size === 2) {
    const n = m.shape === null ? 0 : m.shape.reduce((x, y) => x * y, 1);
    if (n === 0) {
      return m.shape === null ? null : [];
    }
    const ptr = Module._malloc(n * 2);
    try {
      Module.get_attribute_data(entity.file_id, entity.path, name, BigInt(ptr));
      const bytes = Module.HEAPU8.slice(ptr, ptr + n * 2);
      const halves = new Uint16Array(bytes.buffer);
      const values = Array.from(halves, halfToFloat);
      return m.shape!.length === 0 ? values[0] : values;
    } finally {
      Module._free(ptr);
    }
  }
  return a.value;
}

function deepFlatten(v: unknown): unknown[] {
  return Array.isArray(v) ? v.flatMap(deepFlatten) : [v];
}
