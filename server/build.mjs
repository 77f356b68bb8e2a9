// Bundles the companion server into jupyterlab_nexus/server/ so it runs without node_modules:
// h5wasm's node build embeds its wasm; the filter plugins and the native transform addon are
// copied next to the bundle.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import nodeGypBuild from 'node-gyp-build';
import { common } from './esbuild-common.mjs';

const out = 'jupyterlab_nexus/server';
fs.mkdirSync(path.join(out, 'plugins'), { recursive: true });

await build({
  ...common,
  entryPoints: ['server/main.ts'],
  outfile: path.join(out, 'nexus-server.mjs'),
  banner: { js: '#!/usr/bin/env node\n' + common.banner.js }
});
await build({
  ...common,
  entryPoints: ['server/transform/cli.ts'],
  outfile: path.join(out, 'nexus-transform.mjs'),
  banner: { js: '#!/usr/bin/env node\n' + common.banner.js }
});
await build({
  ...common,
  entryPoints: ['server/pipelines/reduce-cli.ts'],
  outfile: path.join(out, 'nexus-reduce.mjs'),
  banner: { js: '#!/usr/bin/env node\n' + common.banner.js }
});
await build({
  ...common,
  entryPoints: ['server/hdf5/worker.ts'],
  outfile: path.join(out, 'h5-worker.mjs')
});

const pluginSrc = 'node_modules/h5wasm-plugins/plugins';
for (const f of fs.readdirSync(pluginSrc).filter(n => n.endsWith('.so'))) {
  fs.copyFileSync(path.join(pluginSrc, f), path.join(out, 'plugins', f));
}
// The transform addon (build/Release, else the committed prebuild) goes next to the bundle, where
// server/transform/native.ts looks first.
fs.copyFileSync(nodeGypBuild.path('.'), path.join(out, 'nexus_transform.node'));
// better-sqlite3's addon, built from source by npm ci; the store passes its path as nativeBinding.
fs.copyFileSync(
  'node_modules/better-sqlite3/build/Release/better_sqlite3.node',
  path.join(out, 'better_sqlite3.node')
);
fs.chmodSync(path.join(out, 'nexus-server.mjs'), 0o755);
fs.chmodSync(path.join(out, 'nexus-transform.mjs'), 0o755);
fs.chmodSync(path.join(out, 'nexus-reduce.mjs'), 0o755);
