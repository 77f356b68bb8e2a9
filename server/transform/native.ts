/**
 * Typed loader and wrapper of the native transform kernel (native/, built by node-gyp).
 *
 * The kernel is a pure affine-map binner; all geometry stays in TypeScript. For pixel p
 * (row-major y·cols + x) the caller passes its lab-frame scattering vector q_p once, and per
 * frame f an affine map to fractional grid coordinates u = A_f·q_p + b_f. The sample lands in
 * voxel (i, j, k) = floor(u), at linear index (k·N1 + j)·N0 + i when 0 ≤ i < N0, 0 ≤ j < N1,
 * 0 ≤ k < N2 (so v and n are shaped (N2, N1, N0) = (NL, NK, NH) for an axis-aligned grid).
 *
 * Accumulation follows CCTW (transform-math §5), not a weighted mean: v[idx] += I (raw counts)
 * and n[idx] += w_f, so v/n is the intensity per unit of frame weight (monitor). Skipped samples:
 * masked pixels (mask[p] ≠ 0), frames with w_f ≤ 0 or NaN, and pixel values that are negative or
 * NaN (Pilatus marks module gaps with -1 and -2).
 *
 * Sums are float64. Integer counts (and weights that are multiples of a power of 2, such as 1)
 * add exactly in float64 up to 2^53 whatever the order, hence `--subset i/N` parts of such data
 * merge to exactly the whole transform; float32 sums would round once a voxel passes 2^24
 * counts. The kernel adds the samples of a call in groups of 4 consecutive frames, pixel by
 * pixel within a group, frame by frame within a pixel (so that q_p is read once per group and
 * neighbouring samples hit the same voxel); with several threads, each voxel's samples come in
 * an order fixed by the thread count. Results are reproducible for a given `threads`; fractional
 * values and weights differ between thread counts, or chunkings of the frames, by float64
 * rounding only.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import nodeGypBuild from 'node-gyp-build';

export type PixelArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;

export interface BinFramesOptions {
  /** frameCount × pixelCount values: one or more consecutive frames */
  frames: PixelArray;
  frameCount: number;
  pixelCount: number;
  /** 3 × pixelCount: each pixel's lab-frame scattering vector (1/Å) */
  q: Float64Array;
  /** 12 × frameCount: per frame A (3×3 row-major) then b (3) */
  maps: Float64Array;
  /** per-frame weight (monitor); all 1 when absent */
  weights?: Float64Array;
  /** pixelCount bytes; non-zero marks a bad pixel */
  mask?: Uint8Array;
  dims: [number, number, number];
  /** N0·N1·N2 each, accumulated in place; must not be shared with a concurrent call */
  v: Float64Array;
  n: Float64Array;
  /** binning threads; all cores by default */
  threads?: number;
  /** called with the number of whole frames done, increasing, ending at frameCount */
  onProgress?: (framesDone: number) => void;
  /** aborting stops the kernel within one block (at most 1M samples) and rejects */
  signal?: AbortSignal;
}

interface NativeJob {
  done: Promise<void>;
  cancel(): void;
}

interface TransformAddon {
  startBinning(
    opts: Omit<BinFramesOptions, 'onProgress' | 'signal'> & { threads: number },
    onProgress?: (framesDone: number) => void
  ): NativeJob;
}

/** File name of the addon next to the bundled server (server/build.mjs copies it there). */
const BUNDLED_ADDON_NAME = 'nexus_transform.node';

let addon: TransformAddon | undefined;

function loadAddon(): TransformAddon {
  if (addon === undefined) {
    const bundled = fileURLToPath(new URL(`./${BUNDLED_ADDON_NAME}`, import.meta.url));
    addon = (
      existsSync(bundled)
        ? createRequire(import.meta.url)(bundled)
        : nodeGypBuild(fileURLToPath(new URL('../..', import.meta.url)))
    ) as TransformAddon;
  }
  return addon;
}

function abortError(signal: AbortSignal): DOMException {
  const error = new DOMException('binFrames was aborted', 'AbortError');
  Object.defineProperty(error, 'cause', { value: signal.reason });
  return error;
}

/**
 * Bins frames into v and n off the event loop. Rejects with a TypeError naming the offending
 * option on bad input, and with an AbortError when `signal` aborts (v and n then hold a
 * partial sum).
 */
export async function binFrames(opts: BinFramesOptions): Promise<void> {
  const { onProgress, signal, ...job } = opts;
  if (signal?.aborted) {
    throw abortError(signal);
  }
  const running = loadAddon().startBinning(
    { ...job, threads: job.threads ?? availableParallelism() },
    onProgress
  );
  const cancel = (): void => running.cancel();
  signal?.addEventListener('abort', cancel, { once: true });
  try {
    await running.done;
  } catch (error) {
    throw signal?.aborted ? abortError(signal) : error;
  } finally {
    signal?.removeEventListener('abort', cancel);
  }
}
