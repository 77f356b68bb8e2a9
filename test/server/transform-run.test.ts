// runTransform with its frames decompressed by a pool of h5wasm workers: every frame is binned
// exactly once whatever the number of readers (v and n against the stack read directly), and an
// abort in the middle of a run rejects with AbortError and stops the readers' threads. (From
// sources each worker compiles its TypeScript through tsx first: seconds per run.)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Dataset, File } from 'h5wasm/node';
import { parseGrid } from '../../server/transform/grid.js';
import { initHdf5 } from '../../server/transform/hdf5-access.js';
import { runTransform, type TransformRequest } from '../../server/transform/transform.js';
import { REPO, tempDir } from './helpers.js';

const FRAMES = 30;
/** 4 MB int32 frames: the readers take 8 frames per block, so the run has 4 blocks */
const SIZE = 1024;
/** the synthetic crystal's pixels all land within ±20 r.l.u. */
const EVERYTHING = '-20:20:8,-20:20:8,-20:20:8';

function threadCount(): number {
  return fs.readdirSync('/proc/self/task').length;
}

describe('runTransform with parallel readers', () => {
  const dir = tempDir('nexus-transform-run-');
  const raw = path.join(dir, 'scan.nxs');
  const geometryFile = path.join(dir, 'scan.json');
  let outputs = 0;

  const request = (extra: Partial<TransformRequest>): TransformRequest => ({
    raw: { file: raw, path: '/entry/data/data' },
    geometryFile,
    grid: parseGrid(EVERYTHING),
    output: { file: path.join(dir, `out${outputs++}.nxs`), path: '/entry/transform' },
    subset: { index: 0, count: 1 },
    threads: 2,
    command: 'test',
    ...extra
  });

  const readSums = (file: string): { v: number; n: number } => {
    const f = new File(file, 'r');
    try {
      const sum = (name: string): number =>
        ((f.get(`/entry/transform/${name}`) as Dataset).value as Float64Array).reduce(
          (a, b) => a + b,
          0
        );
      return { v: sum('v'), n: sum('n') };
    } finally {
      f.close();
    }
  };

  before(async () => {
    execFileSync(
      path.join(REPO, '.venv', 'bin', 'python'),
      [
        '-m',
        'jupyterlab_nexus.demo',
        dir,
        '--frames',
        String(FRAMES),
        '--size',
        String(SIZE)
      ].concat(['--name', 'scan.nxs', '--geometry-json', geometryFile]),
      { cwd: REPO, stdio: 'ignore' }
    );
    await initHdf5();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('bins every frame exactly once with 1 or 2 readers', async () => {
    // the oracle: the stack read on this thread (the kernel skips negative gap pixels)
    const f = new File(raw, 'r');
    let counts = 0;
    let samples = 0;
    try {
      const values = (f.get('/entry/data/data') as Dataset).value as Int32Array;
      assert.equal(values.length, FRAMES * SIZE * SIZE);
      for (const x of values) {
        if (x >= 0) {
          counts += x;
          samples++;
        }
      }
    } finally {
      f.close();
    }
    for (const readers of [1, 2]) {
      const progress: number[] = [];
      const run = request({ readers, onProgress: done => progress.push(done) });
      await runTransform(run);
      assert.deepEqual(readSums(run.output.file), { v: counts, n: samples }, `${readers} readers`);
      assert.equal(progress.at(-1), FRAMES);
      assert.ok(progress.every((p, i) => i === 0 || p >= progress[i - 1]));
    }
  });

  it('stops reading and binning on abort, leaving no reader thread', async () => {
    // a finished run first, so that the threads that stay (libuv's pool, V8's) already exist
    await runTransform(request({ readers: 1 }));
    const before = threadCount();
    const abort = new AbortController();
    const run = request({
      readers: 2,
      signal: abort.signal,
      onProgress: () => abort.abort()
    });
    await assert.rejects(runTransform(run), { name: 'AbortError' });
    // a terminated worker's thread may take a moment to be joined
    for (let i = 0; i < 50 && threadCount() > before; i++) {
      await new Promise(resolve => setTimeout(resolve, 20));
    }
    assert.ok(
      threadCount() <= before,
      `${threadCount()} threads after the abort, ${before} before`
    );
  });
});
