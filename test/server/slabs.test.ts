// Interactive slabs against the full transform of the same scan (transform module, same grid):
// equality in v and n, convergence of the partial results, cancellation, refusals.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { File, Group } from 'h5wasm/node';
import { decodeSlabSnapshot, type SlabInfo, type SlabRequest } from '../../src/protocol/slabs.js';
import { Roots } from '../../server/files/roots.js';
import { ResponseCache } from '../../server/h5grove/cache.js';
import type { WorkerPool } from '../../server/hdf5/pool.js';
import { createApp } from '../../server/http/app.js';
import { SlabService } from '../../server/slabs/slab-service.js';
import type { Grid } from '../../server/transform/grid.js';
import { parseGrid } from '../../server/transform/grid.js';
import { initHdf5 } from '../../server/transform/hdf5-access.js';
import { runTransform } from '../../server/transform/transform.js';
import { REPO, startTestPool, tempDir } from './helpers.js';

const PYTHON = path.join(REPO, '.venv', 'bin', 'python');
const TOKEN = 'slab-token';

function writeDemo(dir: string, name: string, frames: number, size: number): void {
  execFileSync(
    PYTHON,
    [
      '-m',
      'jupyterlab_nexus.demo',
      dir,
      '--frames',
      String(frames),
      '--size',
      String(size),
      '--name',
      name
    ],
    {
      cwd: REPO
    }
  );
}

async function fullTransform(
  raw: string,
  grid: Grid,
  output: string
): Promise<{ v: Float64Array; n: Float64Array }> {
  await runTransform({
    raw: { file: raw, path: '/entry/data/data' },
    grid,
    output: { file: output, path: '/entry/transform' },
    subset: { index: 0, count: 1 },
    threads: 2,
    command: 'test'
  });
  const f = new File(output, 'r');
  try {
    const read = (name: string): Float64Array =>
      (f.get(`entry/transform/${name}`) as unknown as { value: Float64Array }).value;
    return { v: read('v'), n: read('n') };
  } finally {
    f.close();
  }
}

describe('interactive slabs', () => {
  const root = tempDir('slabs-');
  const scan = path.join(root, 'scan.nxs');
  let pool: WorkerPool;
  let service: SlabService;
  let url: string;
  let close: () => Promise<void>;

  const post = async (body: unknown): Promise<Response> =>
    fetch(`${url}/slabs`, {
      method: 'POST',
      headers: { Authorization: `token ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body)
    });
  const poll = async (
    id: string,
    after: number
  ): Promise<ReturnType<typeof decodeSlabSnapshot>> => {
    const r = await fetch(`${url}/slabs/${id}?after=${after}`, {
      headers: { Authorization: `token ${TOKEN}` }
    });
    assert.equal(r.status, 200);
    return decodeSlabSnapshot(await r.arrayBuffer());
  };

  before(async () => {
    writeDemo(root, 'scan.nxs', 60, 96);
    writeDemo(root, 'long.nxs', 400, 192);
    await initHdf5();
    pool = startTestPool({ timeoutMs: 60000 });
    const roots = new Roots([root]);
    service = new SlabService({ pool, roots, cacheBytes: 64 * 1024 * 1024, threads: 2 });
    const server = createApp({
      roots,
      pool,
      cache: new ResponseCache(1 << 20),
      token: TOKEN,
      slabs: service
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = async () => {
      service.close();
      server.closeAllConnections();
      await new Promise<void>(resolve => server.close(() => resolve()));
      await pool.close();
    };
  });
  after(async () => close());

  it('L = c equals that L layer of the full transform exactly in v and n; partials converge to it', async () => {
    // dyadic steps and edges: the slab's grid is the full grid's layer 8 to the last bit
    const full = await fullTransform(
      scan,
      parseGrid('-4:4:128,-4:4:128,-0.5:0.5:16'),
      path.join(root, 'full-l.nxs')
    );
    const request: SlabRequest = {
      file: 'scan.nxs',
      plane: { preset: 'L', value: 1 / 32 },
      thickness: 1 / 16,
      range: { u: [-4, 4], v: [-4, 4] },
      resolution: [128, 128]
    };
    const response = await post(request);
    assert.equal(response.status, 202);
    const info = (await response.json()) as SlabInfo;
    assert.equal(info.kind, 'raw');
    assert.deepEqual(info.grid.origin, [-4, -4, 0]);
    const layer = 128 * 128;
    const slice = {
      v: full.v.subarray(8 * layer, 9 * layer),
      n: full.n.subarray(8 * layer, 9 * layer)
    };
    assert.ok(
      slice.n.some(x => x > 0),
      'the layer holds data'
    );

    const partials: ReturnType<typeof decodeSlabSnapshot>[] = [];
    let seq = -1;
    for (;;) {
      const snapshot = await poll(info.id, seq);
      seq = snapshot.header.seq;
      if (snapshot.header.state !== 'running') {
        partials.push(snapshot);
        break;
      }
      partials.push(snapshot);
    }
    const last = partials[partials.length - 1];
    assert.equal(last.header.state, 'done');
    assert.equal(last.header.complete, true);
    const job = service.get(info.id).job!;
    assert.deepEqual(job.v, Float64Array.from(slice.v));
    assert.deepEqual(job.n, Float64Array.from(slice.n));
    assert.deepEqual(last.v, Float32Array.from(slice.v));
    assert.deepEqual(last.n, Float32Array.from(slice.n));

    // the first partial is the coarse pass only; every partial is a subset sum of the final
    // result, and n grows monotonically to it
    const incomplete = partials.filter(p => !p.header.complete && p.n.some(x => x > 0));
    assert.ok(incomplete.length >= 1, 'at least one partial result before the final one');
    assert.ok(incomplete[0].header.framesDone < last.header.framesTotal);
    let previous: Float32Array = new Float32Array(layer);
    for (const p of [...incomplete, last]) {
      for (let i = 0; i < layer; i++) {
        assert.ok(p.v[i] <= last.v[i] && p.n[i] <= last.n[i] && p.n[i] >= previous[i]);
      }
      previous = p.n;
    }
    assert.ok(incomplete[0].n.reduce((a, b) => a + b, 0) < last.n.reduce((a, b) => a + b, 0));
  });

  it('H = K (a tilted grid) equals layer 0 of the full transform on the same grid', async () => {
    const request: SlabRequest = {
      file: 'scan.nxs',
      plane: { preset: 'H=K' },
      thickness: 0.05,
      range: { u: [-3, 3], v: [-3, 3] },
      resolution: [100, 90]
    };
    const info = (await (await post(request)).json()) as SlabInfo;
    await service.get(info.id).job!.finished;
    const grid: Grid = { ...info.grid, dims: [100, 90, 3] };
    const full = await fullTransform(scan, grid, path.join(root, 'full-hk.nxs'));
    const job = service.get(info.id).job!;
    assert.equal(job.state, 'done');
    assert.ok(job.n.some(x => x > 0));
    assert.deepEqual(job.v, full.v.subarray(0, 9000));
    assert.deepEqual(job.n, full.n.subarray(0, 9000));
  });

  it('reads only the frames that can contribute', async () => {
    const before = service.reader.reads;
    const request: SlabRequest = {
      file: 'long.nxs',
      plane: { preset: 'free', origin: [0, 0, 2], u: [1, 0, 0], v: [0, 1, 0] },
      thickness: 0.02,
      range: { u: [1.5, 2.5], v: [-0.5, 0.5] },
      resolution: [20, 20]
    };
    const info = (await (await post(request)).json()) as SlabInfo;
    const job = service.get(info.id).job!;
    await job.finished;
    assert.equal(job.state, 'done');
    assert.ok(job.framesTotal > 0 && job.framesTotal < 400, `${job.framesTotal} of 400 frames`);
    assert.equal(service.reader.reads - before, job.framesTotal);
  });

  it('a cancelled slab starts no frame read after the abort', async () => {
    const request: SlabRequest = {
      file: 'long.nxs',
      plane: { preset: 'L', value: 0 },
      thickness: 0.05,
      range: { u: [-6, 6], v: [-6, 6] },
      resolution: [200, 200]
    };
    const info = (await (await post(request)).json()) as SlabInfo;
    const first = await poll(info.id, 0);
    assert.equal(first.header.state, 'running');
    const readsAtAbort = service.reader.reads;
    const aborted = performance.now();
    const r = await fetch(`${url}/slabs/${info.id}`, {
      method: 'DELETE',
      headers: { Authorization: `token ${TOKEN}` }
    });
    assert.equal(r.status, 200);
    const job = service.get(info.id).job!;
    await job.finished;
    const settled = performance.now() - aborted;
    await new Promise(resolve => setTimeout(resolve, 200));
    assert.equal(job.state, 'cancelled');
    assert.ok(job.framesDone < job.framesTotal);
    assert.equal(service.reader.reads - readsAtAbort, 0, 'no frame read started after the abort');
    process.stdout.write(`# cancelled slab settled ${settled.toFixed(0)} ms after the abort\n`);
  });

  it('refuses malformed planes with a clear message', async () => {
    const good: SlabRequest = {
      file: 'scan.nxs',
      plane: { preset: 'L', value: 0 },
      thickness: 0.1,
      range: { u: [-1, 1], v: [-1, 1] },
      resolution: [10, 10]
    };
    const cases: [unknown, number, RegExp][] = [
      [{ ...good, plane: undefined }, 400, /plane/],
      [
        { ...good, plane: { preset: 'free', origin: [0, 0, 0], u: [1, 1, 0], v: [2, 2, 0] } },
        400,
        /not parallel/
      ],
      [
        { ...good, plane: { preset: 'free', origin: [0, 0], u: [1, 0, 0], v: [0, 1, 0] } },
        400,
        /origin/
      ],
      [{ ...good, plane: { preset: 'X', value: 1 } }, 400, /plane/],
      [{ ...good, thickness: 0 }, 400, /thickness/],
      [{ ...good, range: { u: [1, -1], v: [-1, 1] } }, 400, /range\.u/],
      [{ ...good, resolution: [0, 10] }, 400, /resolution/],
      [{ ...good, file: 'missing.nxs' }, 404, /not found/i]
    ];
    for (const [body, status, message] of cases) {
      const r = await post(body);
      assert.equal(r.status, status, JSON.stringify(body));
      const { message: text } = (await r.json()) as { message: string };
      assert.match(text, message);
    }
    const notJson = await fetch(`${url}/slabs`, {
      method: 'POST',
      headers: { Authorization: `token ${TOKEN}` },
      body: '{plane'
    });
    assert.equal(notJson.status, 400);
  });

  it('saves a finished slab as NeXus and offers code recomputing it', async () => {
    const request: SlabRequest = {
      file: 'scan.nxs',
      plane: { preset: 'L', value: 0 },
      thickness: 0.1,
      range: { u: [-3, 3], v: [-3, 3] },
      resolution: [60, 60]
    };
    const info = (await (await post(request)).json()) as SlabInfo;
    const job = service.get(info.id).job!;
    await job.finished;
    const saved = await fetch(`${url}/slabs/${info.id}/save`, {
      method: 'POST',
      headers: { Authorization: `token ${TOKEN}` }
    });
    assert.equal(saved.status, 200);
    const { file } = (await saved.json()) as { file: string };
    const f = new File(path.join(root, file), 'r');
    try {
      assert.deepEqual((f.get('entry/slab/v') as unknown as { value: Float64Array }).value, job.v);
      assert.equal((f.get('entry/slab/process') as Group).attrs['NX_class']?.value, 'NXprocess');
    } finally {
      f.close();
    }
    const code = await fetch(`${url}/slabs/${info.id}/code`, {
      headers: { Authorization: `token ${TOKEN}` }
    });
    assert.match(((await code.json()) as { code: string }).code, /nexus-transform\.mjs/);
  });
});
