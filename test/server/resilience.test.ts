import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { HttpError } from '../../server/http/errors.js';
import { startServer, tempDir, writeH5, type TestServer } from './helpers.js';

// The server survives stuck and crashed workers, and names missing filters.

let dir: string;
let srv: TestServer;
let noPlugins: TestServer;

before(async () => {
  dir = tempDir('nexus-resilience-');
  writeH5(
    path.join(dir, 'r.h5'),
    `f['x'] = np.arange(10)
f.create_dataset('bs', data=np.arange(100, dtype='<u2'), chunks=(50,), **hdf5plugin.Bitshuffle(cname='lz4'))
f.create_dataset('blosc', data=np.arange(100, dtype='<f4'), chunks=(50,), **hdf5plugin.Blosc())`
  );
  srv = await startServer(dir, { timeoutMs: 1500, workers: 1 });
  noPlugins = await startServer(dir, { workers: 1, plugins: false });
});
after(async () => {
  await srv.close();
  await noPlugins.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const realPath = (): string => fs.realpathSync(path.join(dir, 'r.h5'));
const file = (): { realPath: string; mtimeMs: number; size: number } => {
  const st = fs.statSync(realPath());
  return { realPath: realPath(), mtimeMs: st.mtimeMs, size: st.size };
};

test('a stuck worker times out with 504 and is replaced', async () => {
  const before = srv.pool.threadIdFor(realPath());
  await assert.rejects(
    srv.pool.run({
      op: 'hang',
      file: file(),
      basename: 'r.h5',
      path: '/',
      resolveLinks: 'only_valid'
    }),
    (e: unknown) => e instanceof HttpError && e.status === 504
  );
  assert.notEqual(srv.pool.threadIdFor(realPath()), before);
  const r = await srv.get('data', { file: 'r.h5', path: '/x' });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('a worker killed mid-request fails that request with JSON and is replaced', async () => {
  const before = srv.pool.threadIdFor(realPath());
  const pending = srv.pool.run({
    op: 'hang',
    file: file(),
    basename: 'r.h5',
    path: '/',
    resolveLinks: 'only_valid'
  });
  await new Promise(resolve => setTimeout(resolve, 200));
  await srv.pool.killWorkerFor(realPath());
  await assert.rejects(pending, (e: unknown) => e instanceof HttpError && e.status === 500);
  assert.notEqual(srv.pool.threadIdFor(realPath()), before);
  const r = await srv.get('meta', { file: 'r.h5', path: '/x' });
  assert.equal(r.status, 200);
});

test('plugin filters (bitshuffle/LZ4, Blosc) read through h5wasm-plugins', async () => {
  const bs = await srv.get('data', { file: 'r.h5', path: '/bs', format: 'bin' });
  const buf = Buffer.from(await bs.arrayBuffer());
  assert.deepEqual(
    Array.from(new Uint16Array(buf.buffer, buf.byteOffset, 100)).slice(95),
    [95, 96, 97, 98, 99]
  );
  const bl = await srv.get('data', { file: 'r.h5', path: '/blosc', selection: '98:' });
  assert.deepEqual(await bl.json(), [98, 99]);
});

test('a missing filter gives a clear message naming the filter', async () => {
  const r = await noPlugins.get('data', { file: 'r.h5', path: '/bs', format: 'bin' });
  assert.equal(r.status, 500);
  const { message } = (await r.json()) as { message: string };
  assert.match(message, /^Cannot read dataset \/bs: HDF5 filter 32008 \(.*\) not available$/);
});
