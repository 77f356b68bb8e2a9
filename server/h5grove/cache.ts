// Byte-bounded LRU of encoded responses. Keys include the file's realpath, mtime and size, so a
// rewritten file never hits a stale entry. A response still being produced (a prefetch) is
// registered as pending, so that a request for it waits instead of reading the same data again.

export interface CachedBody {
  /** 200 unless given: a refusal about a file version (4xx) is as final as its content */
  status?: number;
  body: Buffer;
  contentType: string;
  headers: Record<string, string>;
  /** background work worth starting once this response is served (prefetch of neighbours) */
  afterServe?: () => void;
}

export class ResponseCache {
  private readonly map = new Map<string, CachedBody>();
  private readonly pending = new Map<string, Promise<CachedBody | undefined>>();
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

  /** Cached or being produced: no need to produce it (again). */
  covers(key: string): boolean {
    return this.map.has(key) || this.pending.has(key);
  }

  /** Whether a body of this size would be kept: one huge response must not evict everything. */
  accepts(bytes: number): boolean {
    return bytes <= this.maxBytes / 4;
  }

  set(key: string, value: CachedBody): void {
    if (!this.accepts(value.body.length)) {
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

  /** The cached body, or the one being produced; undefined if neither (or production failed). */
  async lookup(key: string): Promise<CachedBody | undefined> {
    return this.get(key) ?? (await this.pending.get(key));
  }

  /** Produce a body in the background and cache it; a failure only leaves the key uncached. */
  fill(key: string, produce: () => Promise<CachedBody>): void {
    const promise = produce().then(
      body => {
        this.set(key, body);
        return body;
      },
      () => undefined
    );
    this.pending.set(key, promise);
    void promise.finally(() => this.pending.delete(key));
  }
}
