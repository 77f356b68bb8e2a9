// Admission of /data reads by size. Each read keeps its pieces in memory until they are written
// to a client, so a burst of large reads (or slow clients) could hold gigabytes at once: reads
// start only while the bytes of all reads under way fit the budget, the rest wait in order.
// Small reads pass as long as the budget has room, so a large read never blocks all others.

/** bytes of /data selections read and sent at the same time */
export const DEFAULT_READ_BUDGET_BYTES = 512 * 1024 * 1024;

export class ReadBudget {
  private inUse = 0;
  private readonly waiting: { bytes: number; start: () => void }[] = [];

  constructor(readonly maxBytes: number = DEFAULT_READ_BUDGET_BYTES) {}

  /** Resolves once `bytes` fit (a read above the whole budget runs alone); returns the release. */
  async acquire(bytes: number): Promise<() => void> {
    const held = Math.min(Math.max(0, bytes), this.maxBytes);
    if (this.waiting.length > 0 || this.inUse + held > this.maxBytes) {
      await new Promise<void>(start => this.waiting.push({ bytes: held, start }));
    } else {
      this.inUse += held;
    }
    let released = false;
    return () => {
      if (!released) {
        released = true;
        this.inUse -= held;
        this.admit();
      }
    };
  }

  private admit(): void {
    while (this.waiting.length > 0 && this.inUse + this.waiting[0].bytes <= this.maxBytes) {
      const next = this.waiting.shift()!;
      this.inUse += next.bytes;
      next.start();
    }
  }
}
