import fs from 'node:fs';
import type { File as H5File } from 'h5wasm/node';
import { FileStructures, UNDEFINED_ADDRESS, uint } from './file-format.js';
import type { FileKey } from './messages.js';
import { objectAddress } from './object-address.js';

// /meta of a large group describes every child, and h5wasm opens each child twice for it (its
// dataset metadata, then its attribute names: ~38 µs a child). For a group stored the classic
// way (symbol table: h5py's default), the group's own B-tree gives every child's object header
// address, and one small read of that header describes the common child of a large group (one
// value per scan point, per detector module...): a contiguous or compact dataset of an integer
// or float type, and whether it can have attributes at all (an attribute or attribute info
// message). Anything else (new-style groups, soft links, chunked data, other types, shared
// messages, a structure not as expected) is left to h5wasm as before.

const MSG_SYMBOL_TABLE = 0x0011;
const MSG_DATASPACE = 0x0001;
const MSG_DATATYPE = 0x0003;
const MSG_LAYOUT = 0x0008;
const MSG_ATTRIBUTE = 0x000c;
const MSG_ATTRIBUTE_INFO = 0x0015;
const SHARED = 0x02;
const CLASS_INTEGER = 0;
const CLASS_FLOAT = 1;
const LAYOUT_CHUNKED = 2;
/** symbol table entry cache type of a soft link */
const CACHE_SOFT_LINK = 2;
const CACHED_GROUPS = 4;

/** header address of each hard-linked child, by name */
const tables = new Map<string, Map<string, number> | null>();

function heapData(r: FileStructures, heapAddress: number): Buffer {
  const head = r.bytes(heapAddress, 8 + 2 * r.lengthSize + r.offsetSize);
  if (head.toString('latin1', 0, 4) !== 'HEAP') {
    throw new Error('not a local heap');
  }
  const size = uint(head, 8, r.lengthSize);
  return r.bytes(uint(head, 8 + 2 * r.lengthSize, r.offsetSize), size);
}

function nameAt(heap: Buffer, offset: number): string {
  const end = heap.indexOf(0, offset);
  return heap.toString('utf8', offset, end < 0 ? heap.length : end);
}

/** The symbol table entries under a version 1 B-tree of group nodes (node type 0). */
function symbolTable(
  r: FileStructures,
  btreeAddress: number,
  heap: Buffer,
  out: Map<string, number>
): void {
  const O = r.offsetSize;
  const L = r.lengthSize;
  const head = r.bytes(btreeAddress, 8 + 2 * O);
  if (head.toString('latin1', 0, 4) !== 'TREE' || head[4] !== 0) {
    throw new Error('not a group B-tree node');
  }
  const level = head[5];
  const entries = head.readUInt16LE(6);
  const body = r.bytes(btreeAddress + 8 + 2 * O, entries * (L + O) + L);
  for (let i = 0; i < entries; i++) {
    const child = uint(body, i * (L + O) + L, O);
    if (level > 0) {
      symbolTable(r, child, heap, out);
      continue;
    }
    const entrySize = 2 * O + 24;
    // one read for a node of the default size (2K = 8 entries), a second for a larger one
    const guess = r.bytes(child, Math.min(8 + 8 * entrySize, r.fileSize - r.absolute(child)));
    if (guess.toString('latin1', 0, 4) !== 'SNOD') {
      throw new Error('not a symbol table node');
    }
    const count = guess.readUInt16LE(6);
    const symbols =
      8 + count * entrySize <= guess.length
        ? guess.subarray(8)
        : r.bytes(child + 8, count * entrySize);
    for (let s = 0; s < count; s++) {
      const at = s * entrySize;
      const address = uint(symbols, at + O, O);
      const cacheType = symbols.readUInt32LE(at + 2 * O);
      if (cacheType !== CACHE_SOFT_LINK && address !== UNDEFINED_ADDRESS) {
        out.set(nameAt(heap, uint(symbols, at, O)), address);
      }
    }
  }
}

function childAddresses(
  r: FileStructures,
  key: FileKey,
  file: H5File,
  groupPath: string
): Map<string, number> | null {
  const cacheKey = `${key.realPath}\0${key.mtimeMs}:${key.size}\0${groupPath}`;
  if (tables.has(cacheKey)) {
    return tables.get(cacheKey)!;
  }
  let table: Map<string, number> | null = null;
  const group = objectAddress(file.file_id, groupPath);
  const message =
    group === null
      ? undefined
      : r.headerMessages(group).find(m => m.type === MSG_SYMBOL_TABLE)?.body;
  if (message) {
    table = new Map();
    const heap = heapData(r, uint(message, r.offsetSize, r.offsetSize));
    symbolTable(r, uint(message, 0, r.offsetSize), heap, table);
  }
  tables.set(cacheKey, table);
  while (tables.size > CACHED_GROUPS) {
    tables.delete(tables.keys().next().value as string);
  }
  return table;
}

/** A child dataset as its object header describes it, in h5wasm's terms. */
export interface SimpleDataset {
  /** [] for a scalar */
  shape: number[];
  metadata: { type: number; size: number; littleEndian: boolean; signed: boolean };
}

export interface ChildHeader {
  /** false: the header has no attribute (nor attribute info) message */
  mayHaveAttributes: boolean;
  /** set for a contiguous or compact integer or float dataset with a simple or scalar space */
  dataset: SimpleDataset | null;
}

/** What the header of the child of that name says, or null if not read here. */
export type ChildHeaders = (name: string) => ChildHeader | null;

function dataspaceShape(body: Buffer, lengthSize: number): number[] | null {
  const version = body[0];
  const rank = body[1];
  if (version === 2 && body[3] !== 0 && body[3] !== 1) {
    return null; // null dataspace
  }
  const first = version === 1 ? 8 : 4;
  return Array.from({ length: rank }, (_, d) => uint(body, first + d * lengthSize, lengthSize));
}

function simpleDataset(
  messages: ReturnType<FileStructures['headerMessages']>,
  lengthSize: number
): SimpleDataset | null {
  const find = (type: number) => messages.find(m => m.type === type);
  const layout = find(MSG_LAYOUT);
  const space = find(MSG_DATASPACE);
  const dtype = find(MSG_DATATYPE);
  if (!layout || !space || !dtype || (dtype.flags & SHARED) !== 0 || (space.flags & SHARED) !== 0) {
    return null;
  }
  // layout versions 1-2 keep the class in byte 2, versions 3+ in byte 1
  const layoutClass = layout.body[0] < 3 ? layout.body[2] : layout.body[1];
  if (layoutClass === LAYOUT_CHUNKED || layout.body[0] < 1 || layout.body[0] > 5) {
    return null;
  }
  const typeClass = dtype.body[0] & 0x0f;
  const bits = dtype.body[1];
  // float bit 6 set: VAX byte order, which h5wasm would not call little-endian either
  if (typeClass === CLASS_FLOAT && (bits & 0x40) !== 0) {
    return null;
  }
  if (typeClass !== CLASS_INTEGER && typeClass !== CLASS_FLOAT) {
    return null;
  }
  const shape = dataspaceShape(space.body, lengthSize);
  if (shape === null) {
    return null;
  }
  return {
    shape,
    metadata: {
      type: typeClass,
      size: dtype.body.readUInt32LE(4),
      littleEndian: (bits & 0x01) === 0,
      signed: typeClass === CLASS_INTEGER && (bits & 0x08) !== 0
    }
  };
}

/**
 * Run `describe` with the headers of the children of the group at `groupPath`, as far as they
 * are read here (every child null otherwise).
 */
export function withChildHeaders<T>(
  key: FileKey,
  file: H5File,
  groupPath: string,
  describe: (headers: ChildHeaders) => T
): T {
  let fd: number | null = null;
  let headers: ChildHeaders = () => null;
  try {
    fd = fs.openSync(key.realPath, 'r');
    const st = fs.fstatSync(fd);
    if (st.mtimeMs === key.mtimeMs && st.size === key.size) {
      const r = new FileStructures(fd);
      const addresses = childAddresses(r, key, file, groupPath);
      if (addresses) {
        headers = (name: string): ChildHeader | null => {
          const address = addresses.get(name);
          if (address === undefined) {
            return null;
          }
          try {
            const messages = r.headerMessages(address);
            return {
              mayHaveAttributes: messages.some(
                m => m.type === MSG_ATTRIBUTE || m.type === MSG_ATTRIBUTE_INFO
              ),
              dataset: simpleDataset(messages, r.lengthSize)
            };
          } catch {
            return null;
          }
        };
      }
    }
  } catch {
    // no headers: every child is described through h5wasm
  }
  try {
    return describe(headers);
  } finally {
    if (fd !== null) {
      fs.closeSync(fd);
    }
  }
}
