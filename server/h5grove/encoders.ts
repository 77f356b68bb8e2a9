import type { DatasetDescription } from '../hdf5/messages.js';
import type { NumericValues } from './numeric.js';
import { toNumber } from './numeric.js';

// Encoders for numeric arrays: JSON values, NPY files and CSV text (h5grove-protocol.md §5).

export function nestValues(values: unknown[], shape: number[]): unknown {
  if (shape.length === 0) {
    return values[0];
  }
  if (shape.length === 1) {
    return values;
  }
  const [, ...rest] = shape;
  const stride = rest.reduce((a, b) => a * b, 1);
  const out: unknown[] = [];
  for (let i = 0; i < shape[0]; i++) {
    out.push(nestValues(values.slice(i * stride, (i + 1) * stride), rest));
  }
  return out;
}

export function jsonValues(desc: DatasetDescription, values: NumericValues): unknown[] {
  const out: unknown[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const raw = values[i];
    // orjson writes NaN/±Inf as null; JSON.stringify does the same, booleans need mapping.
    // 64-bit integers beyond 2^53 stay BigInt so that toJson writes them exactly.
    if (typeof raw === 'bigint') {
      out[i] = Number.isSafeInteger(Number(raw)) ? Number(raw) : raw;
      continue;
    }
    out[i] = desc.boolEnum ? raw !== 0 : raw;
  }
  return out;
}

export function npyFile(descr: string, shape: number[], data: Buffer): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // magic(6) + version(2) + len(2) + header + '\n' must be a multiple of 64
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), data]);
}

function formatCsvValue(v: number, isFloat: boolean): string {
  if (!isFloat) {
    return String(v);
  }
  if (Number.isNaN(v)) {
    return 'nan';
  }
  if (!Number.isFinite(v)) {
    return v > 0 ? 'inf' : '-inf';
  }
  // NumPy savetxt default fmt '%.18e'
  const [mant, exp] = v.toExponential(18).split('e');
  const e = Number(exp);
  return `${mant}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

export function csvText(values: NumericValues, shape: number[], isFloat: boolean): string {
  const cols = shape.length >= 2 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  const lines: string[] = [];
  for (let i = 0; i < values.length; i += cols) {
    const row: string[] = [];
    for (let j = i; j < i + cols; j++) {
      row.push(formatCsvValue(toNumber(values[j]), isFloat));
    }
    lines.push(row.join(','));
  }
  return lines.join('\n') + '\n';
}
