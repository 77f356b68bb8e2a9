// Benchmark of folders of frame files (issue 7):
//
//   npm run bench:frames [-- --rounds 30 --frames 100]
//
// The same stack of 512×512 uint16 frames, served
//   A. from an HDF5 file (dataset chunked one frame per chunk): the baseline;
//   B. from a folder of one uncompressed TIFF per frame (the virtual NeXus file of
//      server/h5grove/frame-folder.ts).
// Median latency of /meta of the stack, of /data of one frame and of a 16×16 corner of one frame,
// and of /data of the whole stack; ratio B/A. No response cache: every request reads.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Roots } from '../../server/files/roots.js';
import { ResponseCache } from '../../server/h5grove/cache.js';
import { WorkerPool } from '../../server/hdf5/pool.js';
import { createApp } from '../../server/http/app.js';
import { REPO, tempDir, writeH5 } from '../server/helpers.js';
import { medianRequestMs } from './request-timing.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '30' },
    frames: { type: 'string', default: '100' }
  }
});
const rounds = Number(values.rounds);
const frames = Number(values.frames);

const root = tempDir('nexus-bench-frames-');
const folder = path.join(root, 'scan');
writeH5(
  path.join(root, 'stack.h5'),
  `import os, tifffile
stack = np.random.default_rng(1).integers(0, 60000, (${frames}, 512, 512), dtype='u2')
f.create_dataset('frames', data=stack, chunks=(1, 512, 512))
os.makedirs(${JSON.stringify(folder)})
for k, frame in enumerate(stack):
    tifffile.imwrite(os.path.join(${JSON.stringify(folder)}, f'frame_{k:05d}.tif'), frame)`
);

const pool = new WorkerPool({
  size: 2,
  workerUrl: new URL('../../server/hdf5/worker.ts', import.meta.url),
  pluginDir: path.join(REPO, 'node_modules', 'h5wasm-plugins', 'plugins'),
  timeoutMs: 60000,
  tsx: true
});
const server = createApp({ roots: new Roots([root]), pool, cache: new ResponseCache(0) });
await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const cases: [string, string, Record<string, string>, number][] = [
  ['meta of the stack', 'meta', {}, rounds],
  ['data of one frame', 'data', { selection: '42', format: 'bin' }, rounds],
  ['data of a 16×16 corner', 'data', { selection: '42,0:16,0:16', format: 'bin' }, rounds],
  ['data of the whole stack', 'data', { format: 'bin' }, 3]
];
console.log(`${frames} frames of 512×512 uint16, median of ${rounds} requests (3 for the stack)`);
for (const [label, endpoint, params, n] of cases) {
  const a = await medianRequestMs(
    url,
    endpoint,
    { file: 'stack.h5', path: '/frames', ...params },
    n
  );
  const b = await medianRequestMs(
    url,
    endpoint,
    { file: 'scan', path: '/entry/data/data', ...params },
    n
  );
  console.log(
    `${label.padEnd(24)} A HDF5 ${a.toFixed(2)} ms | B TIFF folder ${b.toFixed(2)} ms (${(b / a).toFixed(2)}x)`
  );
}
server.close();
await pool.close();
http.globalAgent.destroy();
