import { Command, Option } from 'commander';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FileChangedEvent } from '../src/protocol/sites.js';
import { Roots } from './files/roots.js';
import { ResponseCache } from './h5grove/cache.js';
import { DEFAULT_MAX_SLAB_MB } from './h5grove/handlers.js';
import { ReadBudget } from './h5grove/read-budget.js';
import { WorkerPool } from './hdf5/pool.js';
import { workerLocation } from './hdf5/worker-location.js';
import { createApp } from './http/app.js';
import { JobEvents } from './jobs/events.js';
import { JobManager } from './jobs/manager.js';
import { Sites } from './jobs/sites.js';
import { JobStore } from './jobs/store.js';
import { LiveFiles } from './live/live-files.js';
import { PipelineDefinitions } from './pipelines/definitions.js';
import { PipelineStore } from './pipelines/pipeline-store.js';
import { PipelineRunner } from './pipelines/runner.js';
import { FolderWatcher } from './pipelines/watcher.js';
import { installProcessGuards, logToStderr } from './process-guards.js';
import { LoopbackChannel } from './remote/channel.js';
import { RemoteSites } from './remote/remote-sites.js';
import { serveStdio } from './remote/stdio-server.js';
import { SlabService } from './slabs/slab-service.js';

// nexus-server: h5grove 4 over h5wasm. Started by jupyter-server-proxy on a private unix socket,
// or on 127.0.0.1 for development (then a token is mandatory).
//
// Roots: with one --root, `file` is relative to it; with several, `file` starts with the
// basename of the root it belongs to (see server/files/roots.ts).

const program = new Command('nexus-server')
  .description('h5grove-compatible HDF5/NeXus server over h5wasm')
  .option('--root <dir...>', 'served directory (repeatable)')
  .option('--socket <path>', 'listen on a unix socket (mode 0600)')
  .option('--port <n>', 'listen on 127.0.0.1:<n> (requires NEXUS_SERVER_TOKEN)')
  .option('--stdio', 'serve multiplexed HTTP over stdin/stdout (a remote site, over SSH)')
  .option('--base-url <prefix>', 'URL prefix to strip before routing')
  .option('--workers <n>', 'number of HDF5 worker threads', String(Math.min(4, os.cpus().length)))
  .option('--timeout <ms>', 'per-request HDF5 timeout in ms', '60000')
  .option('--cache-mb <n>', 'size of the /data response cache in MiB', '512')
  .option('--max-slab-mb <n>', 'largest /data selection in MiB', String(DEFAULT_MAX_SLAB_MB))
  .option('--frame-cache-mb <n>', 'decompressed frames kept for interactive slabs, in MiB', '1024')
  .option(
    '--state-dir <dir>',
    'job database, sites file and job directories (default: <Jupyter data dir>/nexus)'
  )
  .addOption(new Option('--exit-on-stdin-close', 'exit when stdin (a pipe) closes'));

program.parse();
const o = program.opts<{
  root?: string[];
  socket?: string;
  port?: string;
  stdio?: boolean;
  baseUrl?: string;
  workers: string;
  timeout: string;
  cacheMb: string;
  maxSlabMb: string;
  frameCacheMb: string;
  stateDir?: string;
  exitOnStdinClose?: boolean;
}>();

function fail(message: string): never {
  process.stderr.write(`nexus-server: ${message}\n`);
  process.exit(2);
}

if (!o.root || o.root.length === 0) {
  fail('at least one --root is required');
}
if ([o.socket, o.port, o.stdio].filter(mode => mode !== undefined).length !== 1) {
  fail('exactly one of --socket, --port or --stdio is required');
}
const token = process.env.NEXUS_SERVER_TOKEN || undefined;
if (o.port !== undefined && token === undefined) {
  fail('TCP mode requires NEXUS_SERVER_TOKEN in the environment');
}
for (const r of o.root) {
  if (!fs.statSync(r, { throwIfNoEntry: false })?.isDirectory()) {
    fail(`root ${r} is not a directory`);
  }
}

// Bundled, the addons and step programs sit next to this file; from sources (tsx), elsewhere.
const here = path.dirname(fileURLToPath(import.meta.url));
const bundled = import.meta.url.endsWith('.mjs');

const pool = new WorkerPool({
  ...workerLocation(),
  size: Math.max(1, Number.parseInt(o.workers, 10) || 1),
  timeoutMs: Number.parseInt(o.timeout, 10) || 60000
});
if (o.stdio) {
  // A remote site: files only (no jobs, no state), until the SSH channel closes.
  const app = createApp({
    roots: new Roots(o.root),
    pool,
    cache: new ResponseCache((Number.parseInt(o.cacheMb, 10) || 512) * 1024 * 1024),
    maxSlabBytes: (Number(o.maxSlabMb) || DEFAULT_MAX_SLAB_MB) * 1024 * 1024
  });
  await serveStdio(app);
  await pool.close();
  process.exit(0);
}
// Jupyter's data directory, as jupyter_core computes it on Linux and macOS.
const stateDir =
  o.stateDir ??
  path.join(
    process.env.JUPYTER_DATA_DIR ??
      path.join(process.env.XDG_DATA_HOME ?? path.join(os.homedir(), '.local', 'share'), 'jupyter'),
    'nexus'
  );
const storeOptions = {
  file: path.join(stateDir, 'state.sqlite'),
  // The bundle runs without node_modules: build.mjs copies the addon next to it.
  nativeBinding: bundled ? path.join(here, 'better_sqlite3.node') : undefined
};
const store = new JobStore(storeOptions);
const sites = new Sites(path.join(stateDir, 'sites.json'));
const manager = new JobManager({ store, sites, jobsDir: path.join(stateDir, 'jobs') });
const events = new JobEvents(manager);
const root = path.resolve(o.root[0]);
const pipelineStore = new PipelineStore(storeOptions);
const definitions = new PipelineDefinitions(path.join(stateDir, 'pipelines'));
const runner = new PipelineRunner({
  store: pipelineStore,
  manager,
  sites,
  definitions,
  root,
  // Step programs (nexus-reduce) are always the bundled ones, also when the server runs from sources.
  bundleDir: bundled ? here : path.resolve(here, '..', 'jupyterlab_nexus', 'server')
});
runner.on('message', message => events.broadcast(message));
const watcher = new FolderWatcher({
  store: pipelineStore,
  runner,
  definitions,
  root,
  settleMs: Number(process.env.NEXUS_WATCH_SETTLE_MS) || undefined
});

const roots = new Roots(o.root);
const slabs = new SlabService({
  pool,
  roots,
  cacheBytes: (Number.parseInt(o.frameCacheMb, 10) || 1024) * 1024 * 1024
});

const files = {
  roots,
  pool,
  cache: new ResponseCache((Number.parseInt(o.cacheMb, 10) || 512) * 1024 * 1024),
  maxSlabBytes: (Number(o.maxSlabMb) || DEFAULT_MAX_SLAB_MB) * 1024 * 1024,
  readBudget: new ReadBudget()
};
const live = new LiveFiles(roots);
live.on('changed', file =>
  events.broadcast({ type: 'file-changed', file } satisfies FileChangedEvent)
);
// Local files seen like a remote site's, for links between sites (server/remote/cross-site.ts).
const remoteSites = new RemoteSites(sites, new LoopbackChannel(createApp(files)));
remoteSites.live.on('changed', file =>
  events.broadcast({ type: 'file-changed', file } satisfies FileChangedEvent)
);
const server = createApp({
  ...files,
  sites: remoteSites,
  live,
  token,
  baseUrl: o.baseUrl,
  jobs: { manager, sites, events, baseDirectory: root },
  pipelines: { runner, store: pipelineStore, definitions, watcher, root },
  slabs
});

let exiting = false;
function shutdown(code: number, reason: string): void {
  logToStderr(`shutting down: ${reason}`);
  if (exiting) {
    return;
  }
  exiting = true;
  if (o.socket) {
    fs.rmSync(o.socket, { force: true });
  }
  server.close();
  remoteSites.close();
  events.close();
  runner.close();
  slabs.close();
  void Promise.all([pool.close(), manager.close(), watcher.close(), live.close()])
    .then(() => {
      store.close();
      pipelineStore.close();
    })
    .finally(() => process.exit(code));
  setTimeout(() => process.exit(code), 2000).unref();
}
installProcessGuards(shutdown);
for (const signal of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) {
  process.on(signal, () => shutdown(0, signal));
}
if (o.exitOnStdinClose && !process.stdin.isTTY) {
  process.stdin.on('end', () => shutdown(0, 'stdin closed'));
  process.stdin.on('close', () => shutdown(0, 'stdin closed'));
  process.stdin.on('error', err => shutdown(0, `stdin: ${err.message}`));
  process.stdin.resume();
}

// Reconcile every job left unfinished by a previous run before answering requests.
await manager.start();
runner.start();
await watcher.start();

if (o.socket) {
  const socketPath = o.socket;
  fs.rmSync(socketPath, { force: true });
  // umask makes the socket 0600 from creation, leaving no window where others could connect.
  const oldMask = process.umask(0o177);
  server.listen(socketPath, () => {
    process.umask(oldMask);
    fs.chmodSync(socketPath, 0o600);
    process.stdout.write('NEXUS_SERVER_READY\n');
  });
} else {
  server.listen(Number.parseInt(o.port!, 10), '127.0.0.1', () => {
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : o.port;
    process.stdout.write(`NEXUS_SERVER_READY\n`);
    process.stderr.write(`nexus-server listening on http://127.0.0.1:${port}\n`);
  });
}
