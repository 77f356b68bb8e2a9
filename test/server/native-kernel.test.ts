import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import {
  binFrames,
  type BinFramesOptions,
  type PixelArray
} from '../../server/transform/native.js';
import { referenceBin, seededRandom } from './kernel-reference.js';
import { REPO } from './helpers.js';

type PixelArrayConstructor = new (length: number) => PixelArray;

interface ProblemShape {
  frameCount: number;
  pixelCount: number;
  dims: [number, number, number];
  pixelType?: PixelArrayConstructor;
  /** fractional pixel values and non-dyadic weights, whose float sums depend on their order */
  fractional?: boolean;
}

// Random pixels, maps that send about half the samples outside the grid, Pilatus-like gaps,
// NaNs, masked pixels and zero and negative frame weights. Unless `fractional`, values are
// integers and weights multiples of 1/8: their float64 sums are exact, so they do not depend
// on the order of the additions (the kernel adds frames in groups, pixel-major in a group).
function randomProblem(seed: number, shape: ProblemShape): BinFramesOptions {
  const { frameCount, pixelCount, dims } = shape;
  const rand = seededRandom(seed);
  const PixelType = shape.pixelType ?? Int32Array;
  const floating = PixelType === Float32Array || PixelType === Float64Array;
  const fractional = shape.fractional === true;
  const frames = new PixelType(frameCount * pixelCount);
  for (let s = 0; s < frames.length; s++) {
    const r = rand();
    const gap = PixelType === Uint8Array || PixelType === Uint16Array || PixelType === Uint32Array;
    if (r < 0.01 && !gap) {
      frames[s] = -1 - Math.floor(rand() * 2);
    } else if (r < 0.02 && floating) {
      frames[s] = NaN;
    } else {
      frames[s] = Math.floor(rand() * 100) + (fractional ? rand() : 0);
    }
  }
  const q = Float64Array.from({ length: 3 * pixelCount }, () => 2 * rand() - 1);
  const maps = new Float64Array(12 * frameCount);
  for (let f = 0; f < frameCount; f++) {
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 3; c++) {
        maps[12 * f + 3 * r + c] = dims[r] * (rand() - 0.5) * 0.8;
      }
      maps[12 * f + 9 + r] = dims[r] * (0.5 + 0.2 * (rand() - 0.5));
    }
  }
  const weights = Float64Array.from({ length: frameCount }, () => {
    const r = rand();
    const w = fractional ? 2 * rand() : Math.floor(1 + rand() * 16) / 8;
    return r < 0.1 ? 0 : r < 0.15 ? -1 : w;
  });
  const mask = Uint8Array.from({ length: pixelCount }, () => (rand() < 0.05 ? 1 : 0));
  const voxels = dims[0] * dims[1] * dims[2];
  return {
    frames,
    frameCount,
    pixelCount,
    q,
    maps,
    weights,
    mask,
    dims,
    v: new Float64Array(voxels),
    n: new Float64Array(voxels)
  };
}

function freshGrid(problem: BinFramesOptions): BinFramesOptions {
  return {
    ...problem,
    v: new Float64Array(problem.v.length),
    n: new Float64Array(problem.n.length)
  };
}

function reference(problem: BinFramesOptions): BinFramesOptions {
  const expected = freshGrid(problem);
  referenceBin(expected);
  return expected;
}

// 20 frames × 300k pixels = 6M samples: several kernel blocks for 1 and for many threads.
const SIZEABLE: ProblemShape = { frameCount: 20, pixelCount: 300_000, dims: [37, 23, 29] };

test('equals the JS reference exactly, for every pixel type and thread count', async () => {
  const types: PixelArrayConstructor[] = [
    Int8Array,
    Uint8Array,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array
  ];
  for (const [t, pixelType] of types.entries()) {
    const problem = randomProblem(100 + t, { ...SIZEABLE, frameCount: 4, pixelType });
    const expected = reference(problem);
    assert.ok(
      expected.n.some(x => x > 0),
      'the random problem hits the grid'
    );
    for (const threads of [1, 3]) {
      const actual = freshGrid(problem);
      await binFrames({ ...actual, threads });
      assert.deepEqual(actual.v, expected.v, `${pixelType.name}, ${threads} threads: v`);
      assert.deepEqual(actual.n, expected.n, `${pixelType.name}, ${threads} threads: n`);
    }
  }
});

test('fractional values and weights: reproducible per thread count, equal across counts to rounding', async () => {
  const problem = randomProblem(7, { ...SIZEABLE, pixelType: Float32Array, fractional: true });
  const expected = reference(problem);
  assert.ok(
    expected.n.some(x => x > 0 && x !== Math.round(x)),
    'the sums are fractional'
  );
  for (const threads of [1, 2, 5]) {
    const first = freshGrid(problem);
    const again = freshGrid(problem);
    await binFrames({ ...first, threads });
    await binFrames({ ...again, threads });
    assert.deepEqual(again.v, first.v, `${threads} threads, run twice: v`);
    assert.deepEqual(again.n, first.n, `${threads} threads, run twice: n`);
    // the same sums as the reference up to the order of the additions
    for (let i = 0; i < expected.v.length; i++) {
      assert.ok(Math.abs(first.v[i] - expected.v[i]) <= 1e-12 * Math.abs(expected.v[i]));
      assert.ok(Math.abs(first.n[i] - expected.n[i]) <= 1e-12 * Math.abs(expected.n[i]));
    }
  }
});

test('masked pixels, non-positive-weight frames and gap values contribute nothing', async () => {
  const problem = randomProblem(11, { ...SIZEABLE, frameCount: 6, pixelType: Float64Array });
  const { mask, weights, frameCount, pixelCount } = problem;
  assert.ok(mask && weights);
  const baseline = freshGrid(problem);
  await binFrames(baseline);

  // Rewrite every excluded sample with a large value: the grids must not move.
  const scrambled = freshGrid({ ...problem, frames: Float64Array.from(problem.frames) });
  for (let f = 0; f < frameCount; f++) {
    for (let p = 0; p < pixelCount; p++) {
      const s = f * pixelCount + p;
      if (mask[p] !== 0 || !(weights[f] > 0)) {
        scrambled.frames[s] = 1e9;
      }
    }
  }
  await binFrames(scrambled);
  assert.deepEqual(scrambled.v, baseline.v);
  assert.deepEqual(scrambled.n, baseline.n);

  // The excluded samples alone (everything else a gap value) give an empty grid.
  const onlyExcluded = freshGrid({
    ...scrambled,
    frames: scrambled.frames.map(x => (x === 1e9 ? 5 : -1))
  });
  await binFrames(onlyExcluded);
  assert.ok(onlyExcluded.v.every(x => x === 0) && onlyExcluded.n.every(x => x === 0));
});

test('accumulating chunks of frames into one grid equals a single call', async () => {
  const problem = randomProblem(13, { ...SIZEABLE, pixelType: Uint16Array });
  const whole = freshGrid(problem);
  await binFrames({ ...whole, threads: 2 });

  const chunked = freshGrid(problem);
  const { pixelCount, weights } = problem;
  assert.ok(weights);
  for (const [start, end] of [
    [0, 3],
    [3, 4],
    [4, 17],
    [17, 20]
  ]) {
    await binFrames({
      ...chunked,
      frames: problem.frames.subarray(start * pixelCount, end * pixelCount),
      frameCount: end - start,
      maps: problem.maps.subarray(12 * start, 12 * end),
      weights: weights.subarray(start, end),
      threads: 2
    });
  }
  assert.deepEqual(chunked.v, whole.v);
  assert.deepEqual(chunked.n, whole.n);
});

test('progress is strictly increasing and ends at frameCount', async () => {
  for (const threads of [1, 2]) {
    const seen: number[] = [];
    const problem = randomProblem(17, SIZEABLE);
    await binFrames({ ...problem, threads, onProgress: frames => seen.push(frames) });
    assert.ok(seen.length >= 2, `several progress reports (${threads} threads)`);
    assert.ok(seen.every((frames, i) => i === 0 || frames > seen[i - 1]));
    assert.equal(seen.at(-1), problem.frameCount);
  }
});

// 400 frames × 250k pixels: 100M samples, far more than the kernel does before the abort lands.
function longProblem(): BinFramesOptions {
  const pixelCount = 250_000;
  const frameCount = 400;
  const rand = seededRandom(5);
  const q = Float64Array.from({ length: 3 * pixelCount }, () => rand());
  const maps = new Float64Array(12 * frameCount);
  for (let f = 0; f < frameCount; f++) {
    maps.set([50, 0, 0, 0, 50, 0, 0, 0, 50, 0, 0, 0], 12 * f);
  }
  return {
    frames: new Uint8Array(frameCount * pixelCount).fill(1),
    frameCount,
    pixelCount,
    q,
    maps,
    dims: [50, 50, 50],
    v: new Float64Array(50 ** 3),
    n: new Float64Array(50 ** 3)
  };
}

test('aborting stops the kernel early and rejects with an AbortError', async () => {
  for (const threads of [1, 2]) {
    const problem = longProblem();
    const controller = new AbortController();
    let lastProgress = 0;
    const run = binFrames({
      ...problem,
      threads,
      signal: controller.signal,
      onProgress: frames => {
        lastProgress = frames;
        controller.abort();
      }
    });
    await assert.rejects(run, { name: 'AbortError' });
    assert.ok(lastProgress < problem.frameCount / 4, `stopped at frame ${lastProgress}`);
    const binned = problem.n.reduce((a, b) => a + b, 0);
    assert.ok(binned < (problem.frameCount * problem.pixelCount) / 4);
  }

  const aborted = AbortSignal.abort();
  const problem = longProblem();
  await assert.rejects(binFrames({ ...problem, signal: aborted }), { name: 'AbortError' });
  assert.ok(
    problem.n.every(x => x === 0),
    'an already aborted signal bins nothing'
  );
});

test('the event loop keeps running while the kernel works', async () => {
  const problem = longProblem();
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  let ticksAtEnd = -1;
  await binFrames({ ...problem, threads: 1 }).then(() => {
    ticksAtEnd = ticks;
  });
  clearInterval(timer);
  assert.ok(ticksAtEnd > 5, `timer fired ${ticksAtEnd} times during the binning`);
  assert.equal(
    problem.n.reduce((a, b) => a + b, 0),
    problem.frameCount * problem.pixelCount
  );
});

test('bad input is refused with a message naming the option', async () => {
  const good = randomProblem(19, { frameCount: 2, pixelCount: 10, dims: [4, 4, 4] });
  const cases: [Partial<Record<keyof BinFramesOptions, unknown>>, RegExp][] = [
    [{ q: new Float64Array(29) }, /q must have 30 elements, got 29/],
    [{ q: new Float32Array(30) }, /q must be a Float64Array/],
    [{ maps: new Float64Array(12) }, /maps must have 24 elements/],
    [{ frames: new Int32Array(19) }, /frames must have 20 elements/],
    [{ frames: [1, 2] }, /frames must be a typed array/],
    [{ frames: new BigInt64Array(20) }, /frames must be an Int8\/Uint8/],
    [{ weights: new Float64Array(3) }, /weights must have 2 elements/],
    [{ mask: new Int8Array(10) }, /mask must be a Uint8Array/],
    [{ dims: [4, 4] }, /dims must be an array \[N0, N1, N2\]/],
    [{ dims: [4, 0, 4] }, /dims must hold three positive integers/],
    [{ dims: [4, 2.5, 4] }, /dims must hold three positive integers/],
    [{ dims: [65536, 65536, 1] }, /fewer than 2\^32 voxels/],
    [{ dims: [2 ** 31, 1, 1] }, /positive integers below 2\^31/],
    [{ v: new Float64Array(63) }, /v must have 64 elements/],
    [{ frameCount: 1.5 }, /frameCount must be an integer/],
    [{ pixelCount: 0 }, /pixelCount must be an integer in \[1,/],
    [{ threads: 0 }, /threads must be an integer in \[1, 1024\]/],
    [{ onProgress: 3 }, /onProgress must be a function/]
  ];
  for (const [change, message] of cases) {
    await assert.rejects(binFrames({ ...good, ...change } as BinFramesOptions), {
      name: 'TypeError',
      message
    });
  }
  await assert.rejects(binFrames({ ...good, n: good.v }), /v and n must be different arrays/);
});

// Users get this file instead of a compiler (node-gyp-build falls back to it without build/).
test('the committed linux-x64 prebuild loads and bins like the reference', async () => {
  const folder = path.join(REPO, 'prebuilds', 'linux-x64');
  const [file] = readdirSync(folder).filter(f => f.endsWith('.node'));
  assert.ok(file, 'a .node file is committed');
  const prebuilt = createRequire(import.meta.url)(path.join(folder, file)) as {
    startBinning(opts: BinFramesOptions & { threads: number }): { done: Promise<void> };
  };
  const problem = randomProblem(23, { frameCount: 3, pixelCount: 50_000, dims: [9, 8, 7] });
  const actual = freshGrid(problem);
  await prebuilt.startBinning({ ...actual, threads: 2 }).done;
  const expected = reference(problem);
  assert.deepEqual(actual.v, expected.v);
  assert.deepEqual(actual.n, expected.n);
});

test('typed arrays may view a SharedArrayBuffer or part of a larger buffer', async () => {
  const problem = randomProblem(29, { frameCount: 3, pixelCount: 1000, dims: [5, 6, 7] });
  const expected = reference(problem);
  const shared = new Float64Array(new SharedArrayBuffer(8 * (3 * problem.pixelCount + 5)));
  const q = shared.subarray(5);
  q.set(problem.q);
  const actual = freshGrid({ ...problem, q });
  await binFrames({ ...actual, threads: 2 });
  assert.deepEqual(actual.v, expected.v);
  assert.deepEqual(actual.n, expected.n);
});
