import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { build } from 'esbuild';
import { common } from '../../server/esbuild-common.mjs';
import { REPO, tempDir } from './helpers.js';

// The bundled server runs from jupyterlab_nexus/server/ without node_modules: native.ts must
// find the addon that server/build.mjs copies next to the bundle.
test('a bundle importing native.ts loads the addon copied next to it, without node_modules', async () => {
  const addon = path.join(REPO, 'jupyterlab_nexus', 'server', 'nexus_transform.node');
  assert.ok(
    existsSync(addon),
    `${addon} is missing: server/build.mjs copies it (npm run build:server)`
  );

  const folder = tempDir('native-bundle-');
  try {
    const entry = path.join(folder, 'entry.ts');
    writeFileSync(
      entry,
      `import { binFrames } from ${JSON.stringify(path.join(REPO, 'server', 'transform', 'native.ts'))};
const v = new Float64Array(8);
const n = new Float64Array(8);
await binFrames({
  frames: new Uint16Array([3, 4, 5]), frameCount: 1, pixelCount: 3,
  q: new Float64Array([0.5, 0.5, 0.5, 1.5, 0.5, 1.5, 2.5, 0, 0]),
  maps: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]),
  dims: [2, 2, 2], v, n, threads: 2
});
console.log(JSON.stringify({ v: Array.from(v), n: Array.from(n) }));
`
    );
    await build({
      ...common,
      entryPoints: [entry],
      outfile: path.join(folder, 'bundle.mjs'),
      logLevel: 'error'
    });
    copyFileSync(addon, path.join(folder, 'nexus_transform.node'));
    const output = execFileSync(process.execPath, [path.join(folder, 'bundle.mjs')], {
      cwd: folder,
      encoding: 'utf8'
    });
    // pixel 0 → voxel (0,0,0); pixel 1 → (1,0,1) = index 5; pixel 2 is outside the grid
    assert.deepEqual(JSON.parse(output), {
      v: [3, 0, 0, 0, 0, 4, 0, 0],
      n: [1, 0, 0, 0, 0, 1, 0, 0]
    });
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
