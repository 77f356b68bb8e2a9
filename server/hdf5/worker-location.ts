// Where the h5wasm worker and the compression plugins are, for whichever program runs: a bundle
// in jupyterlab_nexus/server/ (nexus-server.mjs, nexus-transform.mjs, nexus-reduce.mjs) has
// h5-worker.mjs and plugins/ beside it; from sources (tsx) the .ts worker is loaded through tsx
// and the plugins come from the installed h5wasm-plugins package.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface WorkerLocation {
  workerUrl: URL;
  pluginDir: string;
  /** the worker is TypeScript: the pool registers tsx in it */
  tsx: boolean;
}

export function workerLocation(): WorkerLocation {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // bundled, import.meta.url is the bundle's own file
  const bundled = import.meta.url.endsWith('.mjs');
  return bundled
    ? {
        workerUrl: new URL('./h5-worker.mjs', import.meta.url),
        pluginDir: path.join(here, 'plugins'),
        tsx: false
      }
    : {
        workerUrl: new URL('./worker.ts', import.meta.url),
        pluginDir: path.resolve(here, '..', '..', 'node_modules', 'h5wasm-plugins', 'plugins'),
        tsx: true
      };
}
