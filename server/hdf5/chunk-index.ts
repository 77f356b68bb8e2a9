import { FileStructures, UNDEFINED_ADDRESS, uint } from './file-format.js';

// Where each chunk of a chunked dataset is stored, read from the file's own structures (HDF5
// file format spec 3.0: superblock, object header, data layout message, chunk index). h5wasm
// does not expose H5Dread_chunk, and reading the compressed bytes ourselves lets a selection that
// needs only the start of a chunk stop inflating there (see direct-chunk-read.ts). Only the index
// kinds below are understood; anything else returns null and the caller reads through HDF5.

export interface StoredChunk {
  /** absolute byte offset in the file */
  offset: number;
  /** stored (compressed) size in bytes */
  size: number;
  /** bit i set: filter i of the pipeline was skipped for this chunk */
  filterMask: number;
}

export interface ChunkIndex {
  /** chunk extent per axis (without the element size) */
  chunkDims: number[];
  elementSize: number;
  /** stored chunks by their first element's coordinates joined with ',' */
  chunks: Map<string, StoredChunk>;
}

const MSG_LAYOUT = 0x0008;
/**
 * Indexing walks the whole chunk index once per file version, where HDF5 looks up just the
 * chunks it needs: a dataset with more chunks than this (a volume of small chunks) is better
 * left to HDF5 than indexed for a small read.
 */
export const MAX_CHUNKS = 65_536;

/** Entries of a version 1 B-tree of chunks (node type 1), depth first. */
function btreeV1Chunks(
  r: FileStructures,
  address: number,
  rank: number,
  out: Map<string, StoredChunk>
): void {
  const O = r.offsetSize;
  const head = r.bytes(address, 8 + 2 * O);
  if (head.toString('latin1', 0, 4) !== 'TREE' || head[4] !== 1) {
    throw new Error('not a chunk B-tree node');
  }
  const level = head[5];
  const entries = head.readUInt16LE(6);
  const keySize = 8 + 8 * (rank + 1);
  const body = r.bytes(address + 8 + 2 * O, entries * (keySize + O) + keySize);
  for (let i = 0; i < entries; i++) {
    const key = i * (keySize + O);
    const child = uint(body, key + keySize, O);
    if (level > 0) {
      btreeV1Chunks(r, child, rank, out);
      continue;
    }
    const coords: number[] = [];
    for (let d = 0; d < rank; d++) {
      coords.push(Number(body.readBigUInt64LE(key + 8 + 8 * d)));
    }
    out.set(coords.join(','), {
      offset: r.absolute(child),
      size: body.readUInt32LE(key),
      filterMask: body.readUInt32LE(key + 4)
    });
    if (out.size > MAX_CHUNKS) {
      throw new Error('too many chunks');
    }
  }
}

/** Chunk coordinates in C order of the chunk grid, as fixed arrays and implicit indexes list them. */
function gridCoordinates(shape: number[], chunkDims: number[]): string[] {
  const counts = shape.map((n, d) => Math.ceil(n / chunkDims[d]));
  const total = counts.reduce((a, b) => a * b, 1);
  if (total > MAX_CHUNKS) {
    throw new Error('too many chunks');
  }
  const out: string[] = [];
  const index = counts.map(() => 0);
  for (let i = 0; i < total; i++) {
    out.push(index.map((c, d) => c * chunkDims[d]).join(','));
    for (let d = counts.length - 1; d >= 0; d--) {
      if (++index[d] < counts[d]) {
        break;
      }
      index[d] = 0;
    }
  }
  return out;
}

/** Entries of a non-paged fixed array index (layout version 4, index type 3). */
function fixedArrayChunks(
  r: FileStructures,
  address: number,
  /** the size of an unfiltered chunk */
  chunkBytes: number,
  keys: string[],
  out: Map<string, StoredChunk>
): void {
  const O = r.offsetSize;
  const head = r.bytes(address, 8 + r.lengthSize + O);
  if (head.toString('latin1', 0, 4) !== 'FAHD') {
    throw new Error('not a fixed array header');
  }
  // client id 1: filtered chunks, each entry with its stored size and filter mask
  const filtered = head[5] === 1;
  const entrySize = head[6];
  const pageBits = head[7];
  const count = uint(head, 8, r.lengthSize);
  const blockAddress = uint(head, 8 + r.lengthSize, O);
  if (count > 2 ** pageBits || count !== keys.length) {
    throw new Error('paged or unexpected fixed array');
  }
  const prefix = 6 + O;
  const block = r.bytes(blockAddress, prefix + count * entrySize);
  if (block.toString('latin1', 0, 4) !== 'FADB') {
    throw new Error('not a fixed array data block');
  }
  for (let i = 0; i < count; i++) {
    const at = prefix + i * entrySize;
    const offset = uint(block, at, O);
    if (offset === UNDEFINED_ADDRESS) {
      continue;
    }
    out.set(keys[i], {
      offset: r.absolute(offset),
      size: filtered ? uint(block, at + O, entrySize - O - 4) : chunkBytes,
      filterMask: filtered ? block.readUInt32LE(at + entrySize - 4) : 0
    });
  }
}

/** The index, if every chunk lies within the file (a damaged size must not be allocated). */
function inFile(r: FileStructures, index: ChunkIndex): ChunkIndex | null {
  for (const { offset, size } of index.chunks.values()) {
    if (offset + size > r.fileSize) {
      return null;
    }
  }
  return index;
}

/**
 * The chunk index of the dataset whose object header is at `objectAddress` (as an HDF5 object
 * reference gives it), or null if its layout or index is not one read here.
 */
export function readChunkIndex(
  fd: number,
  objectAddress: number,
  shape: number[]
): ChunkIndex | null {
  try {
    const r = new FileStructures(fd);
    const layout = r.headerMessages(objectAddress).find(m => m.type === MSG_LAYOUT)?.body;
    if (layout === undefined || layout[1] !== 2) {
      return null;
    }
    const O = r.offsetSize;
    const chunks = new Map<string, StoredChunk>();
    const rank = shape.length;
    if (layout[0] === 3) {
      if (layout[2] !== rank + 1) {
        return null;
      }
      const dims = Array.from({ length: rank + 1 }, (_, d) => layout.readUInt32LE(3 + O + 4 * d));
      const btree = uint(layout, 3, O);
      if (btree !== UNDEFINED_ADDRESS) {
        btreeV1Chunks(r, btree, rank, chunks);
      }
      return inFile(r, { chunkDims: dims.slice(0, rank), elementSize: dims[rank], chunks });
    }
    // version 5 (HDF5 2.0) encodes filtered chunk sizes differently: left to HDF5
    if (layout[0] !== 4 || layout[3] !== rank + 1) {
      return null;
    }
    const flags = layout[2];
    const dimBytes = layout[4];
    const dims = Array.from({ length: rank + 1 }, (_, d) =>
      uint(layout, 5 + dimBytes * d, dimBytes)
    );
    const chunkDims = dims.slice(0, rank);
    const chunkBytes = dims.reduce((a, b) => a * b, 1);
    let at = 5 + dimBytes * (rank + 1);
    const indexType = layout[at++];
    const filtered = (flags & 0x02) !== 0;
    if (indexType === 1) {
      // single chunk: the whole dataset is one chunk
      const size = filtered ? uint(layout, at, r.lengthSize) : chunkBytes;
      const filterMask = filtered ? layout.readUInt32LE(at + r.lengthSize) : 0;
      const address = uint(layout, at + (filtered ? r.lengthSize + 4 : 0), O);
      if (address !== UNDEFINED_ADDRESS) {
        chunks.set(shape.map(() => 0).join(','), { offset: r.absolute(address), size, filterMask });
      }
    } else if (indexType === 3) {
      const address = uint(layout, at + 1, O);
      if (address !== UNDEFINED_ADDRESS) {
        const keys = gridCoordinates(shape, chunkDims);
        fixedArrayChunks(r, address, chunkBytes, keys, chunks);
      }
    } else {
      return null;
    }
    return inFile(r, { chunkDims, elementSize: dims[rank], chunks });
  } catch {
    // a structure not as expected: HDF5 itself will read (or explain) it
    return null;
  }
}
