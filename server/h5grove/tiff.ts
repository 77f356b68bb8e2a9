import type { DtypeOption } from '../../src/protocol/h5grove.js';
import type { DatasetDescription } from '../hdf5/messages.js';
import { HttpError } from '../http/errors.js';
import { isIntegerClass, outputBytes, outputDescr } from './numeric.js';

// TIFF download (h5grove-protocol.md §5.3): the file h5grove writes with
// `tifffile.imwrite(data, photometric='minisblack')`: uncompressed greyscale, one strip per page,
// the stored byte order, the array's shape as tifffile's JSON ImageDescription on the first
// page. 2-D data is one page; N-D data is one page per 2-D frame of the last two axes (tifffile
// reads the file back with the full shape); 1-D data, which tifffile refuses, is one row.
// Every integer width keeps its type, 64-bit too (BitsPerSample 64, as tifffile writes them);
// booleans are bilevel (1 bit per pixel), as tifffile writes them.
// Written here because no npm package writes these sample formats correctly: geotiff 3.0.5's
// writer turns int16/int32 into garbage, cuts widths above 65535, knows no 64-bit integers and
// adds GeoTIFF tags; it also takes ~0.9 s for one Pilatus 2M frame (this: ~5 ms).

const TYPE_SHORT = 3;
const TYPE_LONG = 4;
const TYPE_ASCII = 2;
const TYPE_RATIONAL = 5;
const SAMPLE_FORMAT: Record<string, number> = { u: 1, i: 2, f: 3 };
const SOFTWARE = 'jupyterlab-nexus';
/** Classic TIFF offsets are 32-bit. */
const MAX_TIFF_BYTES = 2 ** 32 - 1;

interface Entry {
  tag: number;
  type: number;
  count: number;
  /** the value itself (SHORT/LONG fitting in the entry) or the offset of out-of-line bytes */
  value: number;
  inline: boolean;
}

/** ASCII tag bytes: the text, a NUL, padded to an even length (values start on word boundaries). */
function asciiBytes(text: string): Buffer {
  const bytes = Buffer.from(`${text}\0`, 'latin1');
  return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.alloc(1)]);
}

/** Bilevel rows as TIFF stores them: 8 pixels a byte, first pixel in the high bit, rows padded. */
function packBits(bytes: Uint8Array, rows: number, width: number): Buffer {
  const rowBytes = Math.ceil(width / 8);
  const out = Buffer.alloc(rows * rowBytes);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < width; c++) {
      if (bytes[r * width + c]) {
        out[r * rowBytes + (c >> 3)] |= 0x80 >> (c & 7);
      }
    }
  }
  return out;
}

/**
 * A TIFF file of `data` (C-order samples of NumPy type `descr`, e.g. `<i4`, `>f8`, `|b1`) with
 * `shape` (at least one axis, no zero-length axis).
 */
export function tiffFile(descr: string, shape: number[], data: Buffer): Buffer {
  const littleEndian = descr[0] !== '>';
  const kind = descr[1];
  const size = Number(descr.slice(2));
  const width = shape[shape.length - 1];
  const height = shape.length >= 2 ? shape[shape.length - 2] : 1;
  const pages = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const bilevel = kind === 'b';
  const pixels = bilevel ? packBits(data, pages * height, width) : data;
  const pageBytes = pixels.length / pages;

  // header | shared out-of-line values | pixels (padded to even) | one IFD per page
  const description = asciiBytes(JSON.stringify({ shape }));
  const software = asciiBytes(SOFTWARE);
  const descriptionAt = 8;
  const softwareAt = descriptionAt + description.length;
  const resolutionAt = softwareAt + software.length;
  const pixelsAt = resolutionAt + 8;
  const pixelPad = pixels.length % 2;
  const firstIfdAt = pixelsAt + pixels.length + pixelPad;

  const entriesOf = (page: number): Entry[] => {
    const inline = (tag: number, type: number, value: number): Entry => ({
      tag,
      type,
      count: 1,
      value,
      inline: true
    });
    const at = (tag: number, type: number, count: number, offset: number): Entry => ({
      tag,
      type,
      count,
      value: offset,
      inline: false
    });
    const entries = [
      inline(256, TYPE_LONG, width),
      inline(257, TYPE_LONG, height),
      inline(258, TYPE_SHORT, bilevel ? 1 : size * 8),
      inline(259, TYPE_SHORT, 1), // no compression
      inline(262, TYPE_SHORT, 1), // minisblack
      ...(page === 0 ? [at(270, TYPE_ASCII, description.length, descriptionAt)] : []),
      inline(273, TYPE_LONG, pixelsAt + page * pageBytes),
      inline(277, TYPE_SHORT, 1),
      inline(278, TYPE_LONG, height),
      inline(279, TYPE_LONG, pageBytes),
      at(282, TYPE_RATIONAL, 1, resolutionAt),
      at(283, TYPE_RATIONAL, 1, resolutionAt),
      inline(296, TYPE_SHORT, 1), // no absolute unit
      at(305, TYPE_ASCII, software.length, softwareAt)
    ];
    // tifffile leaves SampleFormat out for bilevel images (the default, unsigned)
    return bilevel ? entries : [...entries, inline(339, TYPE_SHORT, SAMPLE_FORMAT[kind])];
  };
  const ifdBytes = (entries: Entry[]): number => 2 + 12 * entries.length + 4;
  const ifdSizes = Array.from({ length: pages }, (_, p) => ifdBytes(entriesOf(p)));
  const total = firstIfdAt + ifdSizes.reduce((a, b) => a + b, 0);
  if (total > MAX_TIFF_BYTES) {
    throw new HttpError(413, `A TIFF file holds at most 4 GiB; narrow the selection`);
  }

  const head = Buffer.alloc(pixelsAt);
  const ifds = Buffer.alloc(total - firstIfdAt);
  const headView = new DataView(head.buffer, head.byteOffset, head.length);
  head.write(littleEndian ? 'II' : 'MM', 0, 'latin1');
  headView.setUint16(2, 42, littleEndian);
  headView.setUint32(4, firstIfdAt, littleEndian);
  description.copy(head, descriptionAt);
  software.copy(head, softwareAt);
  // X/YResolution 1/1
  headView.setUint32(resolutionAt, 1, littleEndian);
  headView.setUint32(resolutionAt + 4, 1, littleEndian);

  const view = new DataView(ifds.buffer, ifds.byteOffset, ifds.length);
  let offset = 0;
  for (let page = 0; page < pages; page++) {
    const entries = entriesOf(page);
    view.setUint16(offset, entries.length, littleEndian);
    entries.forEach((e, i) => {
      const at = offset + 2 + 12 * i;
      view.setUint16(at, e.tag, littleEndian);
      view.setUint16(at + 2, e.type, littleEndian);
      view.setUint32(at + 4, e.count, littleEndian);
      if (e.inline && e.type === TYPE_SHORT) {
        view.setUint16(at + 8, e.value, littleEndian);
      } else {
        view.setUint32(at + 8, e.value, littleEndian);
      }
    });
    const next = offset + ifdSizes[page];
    view.setUint32(next - 4, page + 1 < pages ? firstIfdAt + next : 0, littleEndian);
    offset = next;
  }
  return Buffer.concat([head, pixels, Buffer.alloc(pixelPad), ifds]);
}

/**
 * The `format=tiff` body of a numeric selection read as little-endian `bytes`, shaped `shape`.
 * x87 extended floats (float128) become float64, as `dtype=safe` does: TIFF readers know no
 * 80-bit float, and tifffile writes such data into a file it cannot read back.
 */
export function tiffBody(
  desc: DatasetDescription,
  dtype: DtypeOption,
  shape: number[],
  bytes: Uint8Array
): Buffer {
  if (shape.length === 0 || shape.some(d => d === 0)) {
    throw new HttpError(422, 'Unsupported encoding tiff for empty and scalar datasets');
  }
  const sampleDtype = !isIntegerClass(desc) && desc.size > 8 ? 'safe' : dtype;
  return tiffFile(outputDescr(desc, sampleDtype), shape, outputBytes(desc, sampleDtype, bytes));
}
