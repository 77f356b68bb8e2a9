import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Roots } from '../../server/files/roots.js';
import { streamNumeric } from '../../server/h5grove/data.js';
import { normalizeSelection } from '../../server/h5grove/selection.js';
import type { DatasetDescription } from '../../server/hdf5/messages.js';
import type { WorkerPool } from '../../server/hdf5/pool.js';
import { startTestPool, tempDir, writeH5 } from './helpers.js';

// A streamed /data body whose client goes away mid-way: the read must end (its pieces freed, the
// reads still planned dropped) instead of waiting forever for a 'drain' of a closed connection.

let dir: string;
let pool: WorkerPool;

before(() => {
  dir = tempDir('nexus-aborted-stream-');
  // 64 MiB, chunked by frame: a parallel read of many pieces, far more than socket buffers hold.
  writeH5(
    path.join(dir, 'big.h5'),
    `f.create_dataset('stack', data=np.ones((256, 256, 256), dtype='<f4'), chunks=(1, 256, 256))`
  );
  pool = startTestPool();
});
after(async () => {
  await pool.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

// Without the fix the read never ends: the timeout turns that hang into a failure.
test('a streamed read ends when its client disconnects', { timeout: 60000 }, async () => {
  const file = await new Roots([dir]).resolve('big.h5');
  const base = {
    file,
    basename: file.basename,
    path: '/stack',
    resolveLinks: 'only_valid' as const
  };
  const desc = await pool.run<DatasetDescription>({ ...base, op: 'describe' });
  const sel = normalizeSelection(undefined, desc.shape!);
  let streamed!: Promise<boolean>;
  const server = http.createServer((_req, res) => {
    streamed = streamNumeric(
      pool,
      { ...base, format: 'bin', dtype: 'origin', flatten: false },
      desc,
      sel,
      4,
      piece => Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength),
      res
    );
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    // Read the head of the body only, then hang up.
    await new Promise<void>((resolve, reject) => {
      const request = http.get({ port, host: '127.0.0.1' }, response => {
        response.once('data', () => {
          request.destroy();
          resolve();
        });
      });
      request.on('error', err => (request.destroyed ? undefined : reject(err)));
    });
    assert.equal(await streamed, true);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
