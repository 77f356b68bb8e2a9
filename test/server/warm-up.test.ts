import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Roots } from '../../server/files/roots.js';
import { metaJson } from '../../server/h5grove/meta.js';
import { WorkerPool } from '../../server/hdf5/pool.js';
import { REPO, tempDir, writeH5 } from './helpers.js';

// The pool's warm-up (server/hdf5/warm-up.ts): requests are answered while it runs, it leaves no
// file behind, and one that fails costs nothing but its own benefit.

let dir: string;

before(() => {
  dir = tempDir('nexus-warm-up-test-');
  writeH5(
    path.join(dir, 'group.h5'),
    `g = f.create_group('many')\nfor i in range(3000):\n    g[f'item_{i:04d}'] = i`
  );
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A warming pool whose workers see `tmpdir` as their temporary folder. */
function warmingPool(tmpdir: string): WorkerPool {
  const saved = { TMPDIR: process.env.TMPDIR, TSX_DISABLE_CACHE: process.env.TSX_DISABLE_CACHE };
  // A worker's environment is a copy of the parent's taken when it is created. tsx, which runs
  // the worker from source here, keeps its cache in TMPDIR too, unless told not to.
  process.env.TMPDIR = tmpdir;
  process.env.TSX_DISABLE_CACHE = '1';
  try {
    return new WorkerPool({
      size: 2,
      workerUrl: new URL('../../server/hdf5/worker.ts', import.meta.url),
      pluginDir: path.join(REPO, 'node_modules', 'h5wasm-plugins', 'plugins'),
      timeoutMs: 20000,
      tsx: true,
      warmUp: true
    });
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) {
        delete process.env[name];
      } else {
        process.env[name] = value;
      }
    }
  }
}

/** stderr lines written while `run` runs */
async function stderrDuring(run: () => Promise<void>): Promise<string> {
  const written: string[] = [];
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    await run();
  } finally {
    process.stderr.write = original;
  }
  return written.join('');
}

async function groupMeta(pool: WorkerPool): Promise<{ children: { name: string }[] }> {
  const file = await new Roots([dir]).resolve('group.h5');
  const base = {
    file,
    basename: file.basename,
    path: '/many',
    resolveLinks: 'only_valid' as const
  };
  return JSON.parse(await metaJson(pool, base)) as { children: { name: string }[] };
}

test('requests sent at once are answered during the warm-up, which leaves no file behind', async () => {
  const tmp = tempDir('nexus-warm-up-tmp-');
  const pool = warmingPool(tmp);
  try {
    const log = await stderrDuring(async () => {
      const meta = await groupMeta(pool);
      assert.equal(meta.children.length, 3000);
      assert.equal(meta.children[2999].name, 'item_2999');
      await pool.warmUpOver();
    });
    assert.doesNotMatch(log, /warm-up failed/);
    assert.deepEqual(fs.readdirSync(tmp), []);
    // and the warmed workers answer the same
    assert.equal((await groupMeta(pool)).children.length, 3000);
  } finally {
    await pool.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('a warm-up that fails is reported and the workers keep serving', async () => {
  const pool = warmingPool(path.join(dir, 'no-such-folder'));
  try {
    const log = await stderrDuring(() => pool.warmUpOver());
    assert.match(log, /nexus-server: HDF5 worker warm-up failed: .*no-such-folder/);
    const meta = await groupMeta(pool);
    assert.equal(meta.children.length, 3000);
  } finally {
    await pool.close();
  }
});
