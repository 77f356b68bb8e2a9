// Decompressed frames shared by every slab request on the same scan: successive planes through
// one scan read the same frames, and decompression is the cost that matters. Bounded in bytes;
// keys carry the file's real path, mtime and size, so a rewritten file never hits.
import { LRUCache } from 'lru-cache';
import type { FileKey } from '../hdf5/messages.js';
import type { PixelArray } from '../transform/native.js';

export class FrameCache {
  private readonly cache: LRUCache<string, PixelArray>;

  constructor(maxBytes: number) {
    this.cache = new LRUCache<string, PixelArray>({
      maxSize: Math.max(1, maxBytes),
      sizeCalculation: frame => Math.max(1, frame.byteLength),
      // a frame larger than the whole budget is simply not kept
      maxEntrySize: Math.max(1, maxBytes)
    });
  }

  static key(file: FileKey, dataset: string, frame: number): string {
    return JSON.stringify([file.realPath, file.mtimeMs, file.size, dataset, frame]);
  }

  get(key: string): PixelArray | undefined {
    return this.cache.get(key);
  }

  set(key: string, frame: PixelArray): void {
    this.cache.set(key, frame);
  }

  get bytes(): number {
    return this.cache.calculatedSize;
  }
}
