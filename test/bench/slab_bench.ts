// Interactive slab benchmark (issue 6) on a generated Pilatus-2M-size rotation scan (1679 × 1475
// pixels, ≥ 720 frames, gzip, one chunk per frame; generated once into /tmp and reused by
// slab_bench_scan.py, whose frames are for timing only).
// Baseline, measured in the same run: reading and decompressing once every frame that can
// contribute to the plane, through the same worker pool. Targets: first image < 1 s, full
// plane ≤ 2 × the baseline.
//   npm run bench:slabs [-- --frames 720 --dir /tmp/nexus-slab-bench]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { SlabRequest } from '../../src/protocol/slabs.js';
import { Roots } from '../../server/files/roots.js';
import { WorkerPool } from '../../server/hdf5/pool.js';
import { FrameCache } from '../../server/slabs/frame-cache.js';
import { slabFrameRegions } from '../../server/slabs/frame-bounds.js';
import { FrameReader } from '../../server/slabs/frame-reader.js';
import { slabGrid } from '../../server/slabs/plane.js';
import { SlabService } from '../../server/slabs/slab-service.js';
import { resolveSource } from '../../server/slabs/source.js';
import { pixelScatteringVectors } from '../../server/transform/forward.js';

const REPO = path.resolve(import.meta.dirname, '..', '..');
const { values: args } = parseArgs({
  options: {
    frames: { type: 'string', default: '720' },
    dir: { type: 'string', default: '/tmp/nexus-slab-bench' }
  }
});
const frames = Number(args.frames);
const dir = path.resolve(args.dir!);
const name = `pilatus2m-${frames}.nxs`;
const file = path.join(dir, name);
const done = `${file}.complete`;

if (!fs.existsSync(done)) {
  fs.mkdirSync(dir, { recursive: true });
  process.stdout.write(`generating ${file} (${frames} frames of 1679 × 1475, gzip)…\n`);
  const started = performance.now();
  execFileSync(
    path.join(REPO, '.venv', 'bin', 'python'),
    [path.join(REPO, 'test', 'bench', 'slab_bench_scan.py'), file, String(frames)],
    { cwd: REPO, stdio: 'inherit' }
  );
  fs.writeFileSync(done, '');
  process.stdout.write(`generated in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
}

const pool = new WorkerPool({
  size: 2,
  workerUrl: new URL('../../server/hdf5/worker.ts', import.meta.url),
  pluginDir: path.join(REPO, 'node_modules', 'h5wasm-plugins', 'plugins'),
  timeoutMs: 600_000,
  tsx: true
});
const roots = new Roots([dir]);
const request: SlabRequest = {
  file: name,
  plane: { preset: 'L', value: 1 },
  thickness: 0.05,
  range: { u: [-6, 6], v: [-6, 6] },
  resolution: [600, 600]
};
const seconds = (since: number): number => (performance.now() - since) / 1000;

try {
  const resolved = await roots.resolve(name);
  const source = await resolveSource(resolved);
  if (source.kind !== 'raw') {
    throw new Error(`${file} is not a raw scan with geometry`);
  }
  // Workers start (and compile through tsx) before anything is timed; the file's compressed
  // bytes are read once so that both measurements see the same page cache.
  const warm = new FrameReader(pool, new FrameCache(0));
  const description = await warm.describe(resolved, source.path);
  await Promise.all(
    [0, 1].map(slot =>
      pool.run(
        {
          op: 'describe',
          file: resolved,
          basename: name,
          path: source.path,
          resolveLinks: 'only_valid'
        },
        slot
      )
    )
  );
  execFileSync('cat', [file], { stdio: ['ignore', 'ignore', 'inherit'], maxBuffer: 0 });

  const [, rows, cols] = description.shape!;
  process.stderr.write('bounding the contributing frames…\n');
  const grid = slabGrid(request);
  const q = pixelScatteringVectors(source.geometry, rows, cols);
  let started = performance.now();
  const contributing = (
    await slabFrameRegions(source.geometry, grid, q, {
      frames,
      rows,
      cols
    })
  ).contributingFrames();
  const bounding = seconds(started);

  process.stderr.write(`baseline: reading ${contributing.length} frames…\n`);
  // baseline: every contributing frame read and decompressed once, all workers busy
  const baseline = new FrameReader(pool, new FrameCache(0));
  started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 2 * pool.size }, async () => {
      while (next < contributing.length) {
        await baseline.read(resolved, source.path, description, contributing[next++]);
      }
    })
  );
  const readAll = seconds(started);

  process.stderr.write('slab…\n');
  const service = new SlabService({ pool, roots, cacheBytes: 1024 ** 3 });
  started = performance.now();
  const info = await service.start(request);
  const job = service.get(info.id).job!;
  let firstImage = Infinity;
  job.on('update', () => {
    if (firstImage === Infinity && job.n.some(x => x > 0)) {
      firstImage = seconds(started);
    }
  });
  await job.finished;
  const full = seconds(started);
  if (job.state !== 'done') {
    throw new Error(`slab ${job.state}: ${job.message}`);
  }

  started = performance.now();
  const again = service.get(
    (await service.start({ ...request, plane: { preset: 'L', value: 1.5 } })).id
  ).job!;
  await again.finished;
  const cachedPlane = seconds(started);

  const rowsOut = [
    [
      'scan',
      `${frames} frames of ${rows} × ${cols}, ${(fs.statSync(file).size / 2 ** 30).toFixed(2)} GiB gzip`
    ],
    ['plane', `L = 1 ± 0.025, ${request.resolution.join(' × ')} px over ±6 r.l.u.`],
    [
      'contributing frames',
      `${contributing.length} of ${frames} (bounds computed in ${bounding.toFixed(2)} s)`
    ],
    ['baseline: read + decompress them once', `${readAll.toFixed(2)} s`],
    [
      'first image',
      `${firstImage.toFixed(2)} s  (target < 1 s: ${firstImage < 1 ? 'met' : 'NOT met'})`
    ],
    [
      'full-resolution plane',
      `${full.toFixed(2)} s = ${(full / readAll).toFixed(2)} × baseline  (target ≤ 2: ${full / readAll <= 2 ? 'met' : 'NOT met'})`
    ],
    [
      'next plane (L = 1.5), frames from the cache where kept',
      `${cachedPlane.toFixed(2)} s = ${(cachedPlane / readAll).toFixed(2)} × baseline`
    ]
  ];
  for (const [label, value] of rowsOut) {
    process.stdout.write(`${label.padEnd(56)} ${value}\n`);
  }
  service.close();
} finally {
  await pool.close();
}
