import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startServer, tempDir, writeH5, type TestServer } from './helpers.js';
import { startServerProcess, type ServerProcess } from './jobs-helpers.js';

// Resource limits: a slab above --max-slab-mb is refused with the limit named; a burst of heavy
// requests is served by the fixed worker pool without the server's memory running away.

let dir: string;
let limited: TestServer;
let server: ServerProcess;

const MiB = 2 ** 20;
/** 2048 × 4096 float32 = 32 MiB */
const HEAVY_ROWS = 2048;

before(async () => {
  dir = tempDir('nexus-limits-');
  writeH5(
    path.join(dir, 'heavy.h5'),
    `f.create_dataset('big', data=np.arange(1024 * 1024, dtype='<f4').reshape(1024, 1024))
f.create_dataset('heavy', data=np.tile(np.arange(4096, dtype='<f4'), (${HEAVY_ROWS}, 1)), chunks=(64, 4096))`
  );
  limited = await startServer(dir, { workers: 1, maxSlabBytes: 1 * MiB });
  server = await startServerProcess(tempDir('nexus-limits-state-'), dir);
});
after(async () => {
  await limited.close();
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a slab above --max-slab-mb is refused with 413 naming the limit, in every format', async () => {
  for (const format of ['bin', 'json', 'npy', 'csv']) {
    const r = await limited.get('data', { file: 'heavy.h5', path: '/big', format });
    assert.equal(r.status, 413, format);
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
    const { message } = (await r.json()) as { message: string };
    assert.match(message, /4\.0 MiB, above the server's limit of 1 MiB \(--max-slab-mb\)/);
  }
  // just under the limit (256 rows × 4 KiB = 1 MiB) is served, and its values are right
  const ok = await limited.get('data', { file: 'heavy.h5', path: '/big', selection: '0:256' });
  assert.equal(ok.status, 200);
  const values = (await ok.json()) as number[][];
  assert.equal(values.length, 256);
  assert.equal(values[255][1023], 256 * 1024 - 1);
});

function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

test('32 concurrent 32 MiB reads are queued by the worker pool: all served, RSS bounded', async () => {
  const pid = server.child.pid!;
  // One read first: the workers' wasm heaps grow once to their working size and stay there.
  const warm = await fetch(`${server.url}/data?file=heavy.h5&path=/heavy&format=bin`, {
    headers: { Authorization: `token ${server.token}` }
  });
  assert.equal((await warm.arrayBuffer()).byteLength, HEAVY_ROWS * 4096 * 4);
  const startRss = rssBytes(pid);
  let peak = startRss;
  const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 20);
  // distinct selections, so that the response cache cannot answer them
  const answers = await Promise.all(
    Array.from({ length: 32 }, async (_, i) => {
      const r = await fetch(
        `${server.url}/data?file=heavy.h5&path=/heavy&format=bin&selection=${i}:${HEAVY_ROWS}`,
        { headers: { Authorization: `token ${server.token}` } }
      );
      const body = await r.arrayBuffer();
      return { status: r.status, bytes: body.byteLength };
    })
  );
  clearInterval(sampler);
  answers.forEach(({ status, bytes }, i) => {
    assert.equal(status, 200);
    assert.equal(bytes, (HEAVY_ROWS - i) * 4096 * 4);
  });
  const requested = answers.reduce((sum, a) => sum + a.bytes, 0);
  console.log(
    `burst: ${(requested / MiB).toFixed(0)} MiB requested at once; server RSS after one read ${(startRss / MiB).toFixed(0)} → peak ${(peak / MiB).toFixed(0)} MiB`
  );
  // Everything at once would hold 1 GiB of response bodies on top of that.
  assert.ok(peak - startRss < requested, `RSS grew by ${(peak - startRss) / MiB} MiB`);
});
