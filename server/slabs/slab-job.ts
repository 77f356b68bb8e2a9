// One interactive slab through a raw scan, binned by the native kernel into the thin grid: a
// coarse pass first (every k-th frame of the scan, those with pixels in the slab, mapped exactly)
// so that an image appears at once, while the inverse bound of all frames (frame-bounds.ts) is
// computed; then the remaining contributing frames. Both passes together are every contributing
// frame exactly once, so the final v and n are the full computation. Reads run ahead of the kernel on
// every pool worker; an abort stops issuing reads and cancels the kernel.
import { EventEmitter } from 'node:events';
import type { SlabSnapshot, SlabState } from '../../src/protocol/slabs.js';
import type { ResolvedFile } from '../files/roots.js';
import type { DatasetDescription } from '../hdf5/messages.js';
import type { Geometry } from '../transform/geometry.js';
import { frameMaps, voxelCount, type Grid } from '../transform/grid.js';
import { binFrames, type PixelArray } from '../transform/native.js';
import { frameRegionsOf, slabFrameRegions, type FrameRegions } from './frame-bounds.js';
import type { FrameReader } from './frame-reader.js';

/** Frames in the coarse pass (at most): enough for a recognisable image, few enough for < 1 s. */
const COARSE_FRAMES = 8;
/** Frames per kernel call: amortises the call, keeps the pixel union of neighbouring frames tight. */
const BATCH_FRAMES = 4;
/** Minimum time between two partial results of the second pass. */
const PUBLISH_INTERVAL_MS = 250;

export interface SlabJobOptions {
  id: string;
  file: ResolvedFile;
  dataset: string;
  description: DatasetDescription;
  geometry: Geometry;
  grid: Grid;
  /** every detector pixel's lab-frame q (pixelScatteringVectors), shared by requests on one scan */
  q: Float64Array;
  reader: FrameReader;
  threads?: number;
}

/** The promise's value, or the abort as soon as it comes (a read in flight finishes unobserved). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

export class SlabJob extends EventEmitter<{ update: [] }> {
  readonly v: Float64Array;
  readonly n: Float64Array;
  state: SlabState = 'running';
  seq = 0;
  framesDone = 0;
  framesTotal = 0;
  complete = false;
  message?: string;
  private readonly abort = new AbortController();
  /** the snapshot as float32 v then n, rebuilt when seq changes */
  private published?: { seq: number; v: Float32Array; n: Float32Array };
  readonly finished: Promise<void>;

  constructor(readonly options: SlabJobOptions) {
    super();
    this.v = new Float64Array(voxelCount(options.grid));
    this.n = new Float64Array(voxelCount(options.grid));
    this.finished = this.run();
  }

  get id(): string {
    return this.options.id;
  }

  cancel(): void {
    this.abort.abort();
  }

  snapshot(): { header: SlabSnapshot; v: Float32Array; n: Float32Array } {
    const published = this.published ?? {
      seq: 0,
      v: new Float32Array(this.v.length),
      n: new Float32Array(this.n.length)
    };
    return {
      header: {
        id: this.id,
        seq: this.seq,
        state: this.state,
        framesDone: this.framesDone,
        framesTotal: this.framesTotal,
        complete: this.complete,
        ...(this.message ? { message: this.message } : {})
      },
      v: published.v,
      n: published.n
    };
  }

  private publish(): void {
    this.published = {
      seq: this.seq + 1,
      v: Float32Array.from(this.v),
      n: Float32Array.from(this.n)
    };
    this.seq += 1;
    this.emit('update');
  }

  private settle(state: SlabState, message?: string): void {
    this.state = state;
    this.message = message;
    this.seq += 1;
    this.emit('update');
  }

  private async run(): Promise<void> {
    const { geometry, grid, description, q } = this.options;
    const signal = this.abort.signal;
    const [frames, rows, cols] = description.shape!;
    const scan = { frames, rows, cols };
    try {
      // every k-th frame, mapped exactly, while the inverse bound of all frames is computed
      const stride = Math.max(1, Math.ceil(frames / COARSE_FRAMES));
      const candidates = Array.from({ length: Math.ceil(frames / stride) }, (_, i) => i * stride);
      const { file, dataset, reader } = this.options;
      const coarseRegions = await frameRegionsOf(geometry, grid, q, scan, candidates, signal, f =>
        // started now, picked up by binPass from the reader's in-flight reads or its cache
        reader.read(file, dataset, description, f).catch(() => undefined)
      );
      const coarse = candidates.filter(f => coarseRegions.hasPixels(f));
      const bounding = slabFrameRegions(geometry, grid, q, scan, signal);
      bounding.catch(() => undefined); // awaited below; a failure while binning must not crash
      await this.binPass(coarse, coarseRegions, 0);
      this.framesDone = coarse.length;
      this.publish();

      const skip = new Set(candidates);
      const regions = await bounding;
      const rest = regions.contributingFrames().filter(f => !skip.has(f));
      this.framesTotal = coarse.length + rest.length;
      await this.binPass(rest, regions, coarse.length);
      this.framesDone = this.framesTotal;
      this.complete = true;
      this.publish();
      this.settle('done');
    } catch (e) {
      await this.binning.catch(() => undefined);
      if (signal.aborted) {
        this.settle('cancelled');
      } else {
        this.settle('failed', e instanceof Error ? e.message : String(e));
      }
    }
  }

  /** the kernel call in flight: v and n are never handed to two at once */
  private binning: Promise<void> = Promise.resolve();

  /**
   * Reads (running ahead on every worker) and bins these frames, restricted to their regions;
   * partial results at most every PUBLISH_INTERVAL_MS. `before` frames were binned earlier.
   */
  private async binPass(order: number[], regions: FrameRegions, before: number): Promise<void> {
    const { file, dataset, description, reader } = this.options;
    const signal = this.abort.signal;
    const reads = new Map<number, Promise<PixelArray>>();
    let next = 0;
    const readAhead = (upTo: number): void => {
      while (next < Math.min(upTo, order.length) && !signal.aborted) {
        const frame = order[next++];
        const reading = reader.read(file, dataset, description, frame);
        reading.catch(() => undefined); // awaited in order below; an abandoned read must not crash
        reads.set(frame, reading);
      }
    };
    const lookahead = 2 * reader.parallelism + BATCH_FRAMES;
    let lastPublish = performance.now();
    for (let start = 0; start < order.length; start += BATCH_FRAMES) {
      const batch = order.slice(start, start + BATCH_FRAMES);
      readAhead(start + batch.length + lookahead);
      const frames: PixelArray[] = [];
      for (const frame of batch) {
        frames.push(await untilAborted(reads.get(frame)!, signal));
        reads.delete(frame);
      }
      const job = this.compact(batch, frames, regions);
      await this.binning;
      const done = before + start;
      this.binning =
        job.pixelCount === 0
          ? Promise.resolve()
          : binFrames({
              ...job,
              dims: this.options.grid.dims,
              v: this.v,
              n: this.n,
              threads: this.options.threads,
              signal,
              onProgress: f => (this.framesDone = done + f)
            });
      if (
        performance.now() - lastPublish > PUBLISH_INTERVAL_MS &&
        start + batch.length < order.length
      ) {
        await this.binning;
        lastPublish = performance.now();
        this.publish();
      }
    }
    await this.binning;
  }

  /** The batch's frames restricted to the pixels that can contribute, with their q and maps. */
  private compact(
    batch: number[],
    frames: PixelArray[],
    regions: FrameRegions
  ): {
    frames: PixelArray;
    frameCount: number;
    pixelCount: number;
    q: Float64Array;
    maps: Float64Array;
  } {
    const pixels = regions.pixelsOf(batch);
    const count = pixels.length;
    const q = new Float64Array(3 * count);
    for (let k = 0; k < count; k++) {
      const p = 3 * pixels[k];
      q[3 * k] = this.options.q[p];
      q[3 * k + 1] = this.options.q[p + 1];
      q[3 * k + 2] = this.options.q[p + 2];
    }
    const Values = frames[0].constructor as new (length: number) => PixelArray;
    const values = new Values(batch.length * count);
    const maps = new Float64Array(12 * batch.length);
    batch.forEach((frame, b) => {
      const source = frames[b];
      const offset = b * count;
      for (let k = 0; k < count; k++) {
        values[offset + k] = source[pixels[k]];
      }
      maps.set(frameMaps(this.options.geometry, this.options.grid, frame, 1), 12 * b);
    });
    return { frames: values, frameCount: batch.length, pixelCount: count, q, maps };
  }
}
