import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Roots } from '../../server/files/roots.js';
import { ResponseCache } from '../../server/h5grove/cache.js';
import { WorkerPool } from '../../server/hdf5/pool.js';
import { createApp } from '../../server/http/app.js';

// Test fixtures: HDF5 files written by h5py (an independent writer), and an in-process server.

export const REPO = path.resolve(import.meta.dirname, '..', '..');
const PYTHON = path.join(REPO, '.venv', 'bin', 'python');

export function writeH5(file: string, pythonBody: string): void {
  const script = `import h5py, numpy as np, hdf5plugin\nwith h5py.File(${JSON.stringify(file)}, 'w') as f:\n${pythonBody
    .split('\n')
    .map(l => '    ' + l)
    .join('\n')}\n`;
  execFileSync(PYTHON, ['-c', script]);
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface TestServer {
  url: string;
  token: string;
  pool: WorkerPool;
  close(): Promise<void>;
  get(
    endpoint: string,
    params?: Record<string, string>,
    headers?: Record<string, string>
  ): Promise<Response>;
}

export interface TestPoolOptions {
  /** default 2 */
  workers?: number;
  /** false: without the HDF5 compression plugins */
  plugins?: boolean;
  /** per read; default 20 s */
  timeoutMs?: number;
}

/** The HDF5 worker pool as the server makes it, its worker run from source through tsx. */
export function startTestPool(opts: TestPoolOptions = {}): WorkerPool {
  return new WorkerPool({
    size: opts.workers ?? 2,
    workerUrl: new URL('../../server/hdf5/worker.ts', import.meta.url),
    pluginDir:
      opts.plugins === false
        ? undefined
        : path.join(REPO, 'node_modules', 'h5wasm-plugins', 'plugins'),
    timeoutMs: opts.timeoutMs ?? 20000,
    tsx: true
  });
}

export async function startServer(
  root: string,
  opts: TestPoolOptions & { maxSlabBytes?: number } = {}
): Promise<TestServer> {
  const token = 'test-token';
  const pool = startTestPool(opts);
  const server = createApp({
    roots: new Roots([root]),
    pool,
    cache: new ResponseCache(64 * 1024 * 1024),
    maxSlabBytes: opts.maxSlabBytes,
    token
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    token,
    pool,
    get: (endpoint, params = {}, headers = { Authorization: `token ${token}` }) =>
      fetch(`${url}/${endpoint}?${new URLSearchParams(params)}`, { headers }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>(resolve => server.close(() => resolve()));
      await pool.close();
    }
  };
}
