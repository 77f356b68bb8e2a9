import fs from 'node:fs';

// Reading of HDF5's on-disk structures (HDF5 file format specification 3.0): the superblock's
// address sizes and object header messages. h5wasm offers no access to these; chunk-index.ts
// and child-headers.ts read them to skip HDF5 work they can do cheaper. Every reader here
// throws on a structure that is not as expected, and its callers then let HDF5 do the work.

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
export const UNDEFINED_ADDRESS = 2 ** 64 - 1;
const MSG_CONTINUATION = 0x0010;
/** HDF5 reads an object header speculatively in blocks of this size, and so do we */
const SPECULATIVE_READ = 512;
const MAX_CONTINUATIONS = 64;

/** Little-endian unsigned integer of `size` bytes; 2^64-1 (undefined address) stays exact. */
export function uint(buf: Buffer, at: number, size: number): number {
  if (size === 8) {
    const v = buf.readBigUInt64LE(at);
    return v === 0xffffffffffffffffn ? UNDEFINED_ADDRESS : Number(v);
  }
  return buf.readUIntLE(at, size);
}

export interface HeaderMessage {
  type: number;
  /** bit 1: the message is shared (stored elsewhere; the body is a reference to it) */
  flags: number;
  body: Buffer;
}

export class FileStructures {
  /** absolute address of the superblock's base: file addresses are relative to it */
  base = 0;
  offsetSize = 8;
  lengthSize = 8;
  readonly fileSize: number;

  constructor(private readonly fd: number) {
    this.fileSize = fs.fstatSync(fd).size;
    for (let at = 0; at + 64 <= this.fileSize; at = at === 0 ? 512 : at * 2) {
      const head = this.readAbsolute(at, 64);
      if (!head.subarray(0, 8).equals(SIGNATURE)) {
        continue;
      }
      const version = head[8];
      if (version <= 1) {
        this.offsetSize = head[13];
        this.lengthSize = head[14];
        this.base = uint(head, version === 0 ? 24 : 28, this.offsetSize);
      } else {
        this.offsetSize = head[9];
        this.lengthSize = head[10];
        this.base = uint(head, 12, this.offsetSize);
      }
      return;
    }
    throw new Error('no HDF5 superblock');
  }

  private readAbsolute(at: number, length: number): Buffer {
    // a damaged or hostile length must not allocate beyond what the file can hold
    if (!(length >= 0 && at >= 0 && at + length <= this.fileSize)) {
      throw new Error('HDF5 structure runs past the end of the file');
    }
    const buf = Buffer.allocUnsafe(length);
    if (fs.readSync(this.fd, buf, 0, length, at) !== length) {
      throw new Error('HDF5 structure runs past the end of the file');
    }
    return buf;
  }

  /** `length` bytes at a file address */
  bytes(address: number, length: number): Buffer {
    return this.readAbsolute(this.base + address, length);
  }

  /** Absolute file offset of a file address. */
  absolute(address: number): number {
    return this.base + address;
  }

  /** The messages of the object header at `address` (versions 1 and 2), continuations included. */
  headerMessages(address: number): HeaderMessage[] {
    const first = this.bytes(
      address,
      Math.min(SPECULATIVE_READ, this.fileSize - this.base - address)
    );
    type Block = { start: number; length: number; data?: Buffer };
    const blocks: Block[] = [];
    let v2: boolean;
    let creationOrder = false;
    if (first.toString('latin1', 0, 4) === 'OHDR') {
      v2 = true;
      const flags = first[5];
      creationOrder = (flags & 0x04) !== 0;
      let at = 6 + (flags & 0x20 ? 16 : 0) + (flags & 0x10 ? 4 : 0);
      const sizeBytes = 1 << (flags & 0x03);
      const length = uint(first, at, sizeBytes);
      at += sizeBytes;
      blocks.push({ start: address + at, length, data: first.subarray(at, at + length) });
    } else if (first[0] === 1) {
      v2 = false;
      const length = first.readUInt32LE(8);
      blocks.push({ start: address + 16, length, data: first.subarray(16, 16 + length) });
    } else {
      throw new Error('not an object header');
    }
    const headerSize = v2 ? 4 + (creationOrder ? 2 : 0) : 8;
    const messages: HeaderMessage[] = [];
    for (let b = 0; b < blocks.length; b++) {
      if (b > MAX_CONTINUATIONS) {
        throw new Error('too many object header continuations');
      }
      const block = blocks[b];
      const data =
        block.data && block.data.length === block.length
          ? block.data
          : this.bytes(block.start, block.length);
      for (let at = 0; at + headerSize <= data.length;) {
        const type = v2 ? data[at] : data.readUInt16LE(at);
        const size = data.readUInt16LE(at + (v2 ? 1 : 2));
        const flags = data[at + (v2 ? 3 : 4)];
        const body = data.subarray(at + headerSize, at + headerSize + size);
        if (type === MSG_CONTINUATION) {
          const start = uint(body, 0, this.offsetSize);
          const length = uint(body, this.offsetSize, this.lengthSize);
          // a version 2 continuation block starts with "OCHK" and ends with a checksum
          blocks.push(v2 ? { start: start + 4, length: length - 8 } : { start, length });
        } else {
          messages.push({ type, flags, body });
        }
        at += headerSize + size;
      }
    }
    return messages;
  }
}
