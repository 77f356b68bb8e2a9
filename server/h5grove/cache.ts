// Byte-bounded LRU of encoded /data responses. Keys include the file's realpath, mtime and size,
// so a rewritten file never hits a stale entry.

export interface CachedBody {
  body: Buffer;
  contentType: string;
  headers: Record<string, string>;
}

export class ResponseCache {
  private readonly map = new Map<string, CachedBody>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get(key: string): CachedBody | undefined {
    const hit = this.map.get(key);
    if (hit) {
      this.map.delete(key);
      this.map.set(key, hit);
    }
    return hit;
  }

  set(key: string, value: CachedBody): void {
    // one huge response must not evict everything else
    if (value.body.length > this.maxBytes / 4) {
      return;
    }
    const old = this.map.get(key);
    if (old) {
      this.bytes -= old.body.length;
      this.map.delete(key);
    }
    this.map.set(key, value);
    this.bytes += value.body.length;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.maxBytes) {
        break;
      }
      this.map.delete(k);
      this.bytes -= v.body.length;
    }
  }
}
