// miniCBF frames (PILATUS/EIGER style): a text header, then one binary section compressed with
// CBFlib's "byte_offset" algorithm. No maintained npm package reads CBF, so this is our own
// decoder of that one algorithm (tested against fabio on real data in test_pipeline_steps.py).
import { InputError } from '../../transform/input-error.js';

interface CbfFrame {
  rows: number;
  cols: number;
  data: Int32Array | Uint32Array;
}

/** The four bytes CBF puts between the MIME header and the binary data. */
const BINARY_START = Buffer.from([0x0c, 0x1a, 0x04, 0xd5]);

function headerValue(header: string, key: string, source: string): string {
  const match = new RegExp(`^${key}:\\s*(.+?)\\s*$`, 'mi').exec(header);
  if (!match) {
    throw new InputError(`${source}: CBF header has no ${key}`);
  }
  return match[1].replace(/^"|"$/g, '');
}

/**
 * Byte offset: each value is the previous one plus a delta stored in 1 byte, or after the escape
 * 0x80 in 2 bytes, or after the escape 0x8000 in 4 bytes (all little-endian, signed).
 */
function decodeByteOffset(packed: Buffer, count: number, source: string): Int32Array {
  const out = new Int32Array(count);
  let value = 0;
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at >= packed.length) {
      throw new InputError(`${source}: CBF data ends after ${i} of ${count} values`);
    }
    let delta = packed.readInt8(at);
    at += 1;
    if (delta === -0x80) {
      delta = packed.readInt16LE(at);
      at += 2;
      if (delta === -0x8000) {
        delta = packed.readInt32LE(at);
        at += 4;
        if (delta === -0x80000000) {
          throw new InputError(`${source}: 64-bit byte-offset deltas are not supported`);
        }
      }
    }
    value = (value + delta) | 0;
    out[i] = value;
  }
  return out;
}

export function decodeCbf(buffer: Buffer, source: string): CbfFrame {
  const start = buffer.indexOf(BINARY_START);
  if (start < 0) {
    throw new InputError(`${source}: not a CBF file (no binary section)`);
  }
  const header = buffer.subarray(0, start).toString('latin1');
  const conversion = /conversions\s*=\s*"([^"]+)"/i.exec(header)?.[1];
  if (conversion?.toLowerCase() !== 'x-cbf_byte_offset') {
    throw new InputError(
      `${source}: only byte_offset compressed CBF is supported (conversions="${conversion ?? 'none'}")`
    );
  }
  const type = headerValue(header, 'X-Binary-Element-Type', source);
  const signedness = /^(signed|unsigned) 32-bit integer$/i.exec(type)?.[1].toLowerCase();
  if (!signedness) {
    throw new InputError(`${source}: unsupported CBF element type "${type}"`);
  }
  const cols = Number(headerValue(header, 'X-Binary-Size-Fastest-Dimension', source));
  const rows = Number(headerValue(header, 'X-Binary-Size-Second-Dimension', source));
  const size = Number(headerValue(header, 'X-Binary-Size', source));
  if (!(Number.isInteger(cols) && Number.isInteger(rows) && cols > 0 && rows > 0)) {
    throw new InputError(`${source}: bad CBF dimensions ${cols}×${rows}`);
  }
  const dataStart = start + BINARY_START.length;
  const packed = buffer.subarray(dataStart, dataStart + size);
  const values = decodeByteOffset(packed, rows * cols, source);
  // the sums wrap modulo 2³², so the same bits read unsigned are the unsigned values
  return {
    rows,
    cols,
    data: signedness === 'signed' ? values : new Uint32Array(values.buffer)
  };
}
