import { Worker } from 'node:worker_threads';
import { HttpError } from '../http/errors.js';
import type { WorkerRequest, WorkerResponse } from './messages.js';

// A fixed pool of h5wasm workers. Requests for one file go to the same worker (hash of the real
// path) so that its open handle is reused. A worker that times out is terminated — the only way
// to interrupt a synchronous HDF5 call — and replaced; so is one that crashes.

export interface PoolOptions {
  size: number;
  workerUrl: URL;
  pluginDir?: string;
  /** per-request timeout in ms */
  timeoutMs: number;
  /** load the worker's TypeScript source through tsx (tests and development) */
  tsx?: boolean;
}

type Pending = {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
};

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type PoolRequest = DistributiveOmit<WorkerRequest, 'id'>;

class Slot {
  worker!: Worker;
  readonly pending = new Map<number, Pending>();
  private readyPromise!: Promise<void>;

  constructor(private readonly opts: PoolOptions) {
    this.spawn();
  }

  private spawn(): void {
    const workerData = { pluginDir: this.opts.pluginDir };
    // Loader hooks given through execArgv do not reach worker threads on Node 20, so a
    // TypeScript worker registers tsx itself before importing its source.
    const worker = this.opts.tsx
      ? new Worker(
          `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(this.opts.workerUrl.href)}); })`,
          { eval: true, workerData }
        )
      : new Worker(this.opts.workerUrl, { workerData });
    this.worker = worker;
    this.readyPromise = new Promise((resolve, reject) => {
      const onMessage = (msg: { ready?: boolean }): void => {
        if (msg && msg.ready) {
          worker.off('message', onMessage);
          resolve();
        }
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    // A failed start surfaces through the request that awaits it.
    this.readyPromise.catch(() => undefined);
    worker.on('message', (msg: WorkerResponse | { ready: true }) => {
      if ('ready' in msg) {
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) {
        return;
      }
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) {
        p.resolve(msg.result);
      } else {
        p.reject(new HttpError(msg.error.status, msg.error.message));
      }
    });
    worker.on('error', () => undefined);
    worker.on('exit', () => {
      if (this.worker !== worker) {
        return;
      }
      this.failAll(new HttpError(500, 'HDF5 worker exited unexpectedly'));
      if (!this.closed) {
        this.spawn();
      }
    });
  }

  closed = false;

  private failAll(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(id);
    }
  }

  /** Replace a stuck worker; its in-flight requests fail. */
  recycle(reason: Error): void {
    const old = this.worker;
    this.failAll(reason);
    this.spawn();
    void old.terminate();
  }

  async run(id: number, req: PoolRequest): Promise<unknown> {
    await this.readyPromise;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const p = this.pending.get(id);
        if (p) {
          this.pending.delete(id);
          p.reject(new HttpError(504, `HDF5 request timed out after ${this.opts.timeoutMs} ms`));
          this.recycle(new HttpError(500, 'HDF5 worker was restarted'));
        }
      }, this.opts.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.worker.postMessage({ ...req, id });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failAll(new HttpError(503, 'server is shutting down'));
    await this.worker.terminate();
  }
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  }
  return h >>> 0;
}

export class WorkerPool {
  private readonly slots: Slot[];
  private nextId = 1;

  constructor(opts: PoolOptions) {
    this.slots = Array.from({ length: Math.max(1, opts.size) }, () => new Slot(opts));
  }

  get size(): number {
    return this.slots.length;
  }

  /** Run on the worker that owns this file, or on an explicit slot (parallel split reads). */
  run<T>(req: PoolRequest, slot?: number): Promise<T> {
    const i = slot ?? hash(req.file.realPath) % this.slots.length;
    return this.slots[i % this.slots.length].run(this.nextId++, req) as Promise<T>;
  }

  /** Slots with nothing in flight: background work (prefetch) goes there, never queued. */
  idleSlots(): number[] {
    return this.slots.flatMap((s, i) => (s.pending.size === 0 ? [i] : []));
  }

  /** Test hook: the thread id of the worker that owns a file. */
  threadIdFor(realPath: string): number {
    return this.slots[hash(realPath) % this.slots.length].worker.threadId;
  }

  /** Test hook: kill the worker that owns a file, as a crash would. */
  killWorkerFor(realPath: string): Promise<number> {
    return this.slots[hash(realPath) % this.slots.length].worker.terminate();
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map(s => s.close()));
  }
}
