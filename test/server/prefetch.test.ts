import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ResponseCache } from '../../server/h5grove/cache.js';
import { neighbourSelections } from '../../server/h5grove/prefetch.js';
import type { PoolRequest } from '../../server/hdf5/pool.js';
import { startServer, tempDir, writeH5, type TestServer } from './helpers.js';

const FRAME = [6, 5] as const;

let dir: string;
let srv: TestServer;
/** pool requests made by the server, in order */
const runs: PoolRequest[] = [];

/** frame z of the stack as written by `stack(offset)`: value = offset + z * 100 + flat index */
function expectedFrame(z: number, offset: number): number[] {
  return Array.from({ length: FRAME[0] * FRAME[1] }, (_, i) => offset + z * 100 + i);
}

function stack(offset: number): string {
  return `v = np.arange(${FRAME[0] * FRAME[1]}, dtype='<i4').reshape(${FRAME.join(', ')})
f.create_dataset('s', data=np.stack([v + ${offset} + z * 100 for z in range(8)]), chunks=(1, ${FRAME.join(', ')}), compression='gzip')`;
}

async function frame(z: number | string): Promise<number[]> {
  const r = await srv.get('data', {
    file: 'stack.h5',
    path: '/s',
    selection: `${z},:,:`,
    format: 'bin',
    dtype: 'safe'
  });
  assert.equal(r.status, 200);
  return [...new Int32Array(await r.arrayBuffer())];
}

const framesRead = (): number[] =>
  runs.flatMap(r => (r.op === 'readBytes' && r.basename === 'stack.h5' ? [r.axes[0].start] : []));

before(async () => {
  dir = tempDir('nexus-prefetch-');
  writeH5(path.join(dir, 'stack.h5'), stack(0));
  srv = await startServer(dir);
  const run = srv.pool.run.bind(srv.pool);
  srv.pool.run = <T>(req: PoolRequest, slot?: number): Promise<T> => {
    runs.push(req);
    return run<T>(req, slot);
  };
});
after(async () => {
  await srv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('neighbours: up to two frames away along frame-chunked single-index members, nearest first', () => {
  assert.deepEqual(neighbourSelections('5,:,:', [10, 4, 4], [1, 4, 4]), [
    '6,:,:',
    '4,:,:',
    '7,:,:',
    '3,:,:'
  ]);
  assert.deepEqual(neighbourSelections('0,:,:', [10, 4, 4], [1, 4, 4]), ['1,:,:', '2,:,:']);
  assert.deepEqual(neighbourSelections('-1,:,:', [10, 4, 4], [1, 4, 4]), ['8,:,:', '7,:,:']);
  assert.deepEqual(neighbourSelections('2,3,:', [5, 5, 5], [1, 1, 5]), [
    '3,3,:',
    '2,4,:',
    '1,3,:',
    '2,2,:',
    '4,3,:',
    '0,3,:',
    '2,1,:'
  ]);
  // a cross-section through frame-sized chunks: its neighbour would decompress every chunk again
  assert.deepEqual(neighbourSelections(':,800,:', [100, 1679, 1475], [1, 1679, 1475]), []);
  assert.deepEqual(neighbourSelections('3,:,:', [10, 4, 4], [5, 4, 4]), []);
});

test('a response being produced is awaited, not produced twice; a failed one is a miss', async () => {
  const cache = new ResponseCache(1000);
  let release!: () => void;
  const body = { body: Buffer.from('x'), contentType: 'text/plain', headers: {} };
  cache.fill('k', () => new Promise(resolve => (release = () => resolve(body))));
  assert.ok(cache.covers('k'));
  const waiting = cache.lookup('k');
  release();
  assert.equal(await waiting, body);
  assert.equal(cache.get('k'), body);
  cache.fill('bad', () => Promise.reject(new Error('read failed')));
  assert.equal(await cache.lookup('bad'), undefined);
  assert.equal(cache.covers('bad'), false);
});

test('scrubbing a chunked stack: the next frames are read ahead and served as h5py wrote it', async () => {
  assert.deepEqual(await frame(3), expectedFrame(3, 0));
  // before the client has frame 3, its two idle workers read the nearest neighbours
  assert.deepEqual(framesRead(), [3, 4, 2]);
  assert.deepEqual(await frame(4), expectedFrame(4, 0));
  assert.deepEqual(await frame(5), expectedFrame(5, 0));
  // 4 and 5 came from the read-ahead, each served frame reading on beyond the cached ones
  assert.deepEqual(framesRead().slice(0, 3), [3, 4, 2]);
  assert.ok(
    !framesRead()
      .slice(3)
      .some(z => [2, 3, 4].includes(z)),
    String(framesRead())
  );
  assert.ok(framesRead().includes(6), String(framesRead()));
  assert.deepEqual(await frame(-3), expectedFrame(5, 0)); // same frame, other spelling
});

test('a read-ahead frame is not served after the file is rewritten', async () => {
  assert.deepEqual(await frame(6), expectedFrame(6, 0));
  assert.ok(framesRead().includes(7));
  writeH5(path.join(dir, 'stack.h5'), `${stack(5000)}\nf['pad'] = np.zeros(3)`);
  assert.deepEqual(await frame(7), expectedFrame(7, 5000));
});
