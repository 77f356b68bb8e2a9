import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import WebSocket from 'ws';
import type { JobState, JobView } from '../../src/protocol/jobs.js';
import type { SchedulerAdapter } from '../../server/jobs/adapter.js';
import { JobManager, type SubmitRetryOptions } from '../../server/jobs/manager.js';
import { Sites, type SiteConfig } from '../../server/jobs/sites.js';
import { JobStore } from '../../server/jobs/store.js';
import { REPO, tempDir } from './helpers.js';

// Reusable job-layer fixtures (local executor here, Slurm in its own suite): an in-process stack
// (real SQLite file, real processes) and a real server process that can be killed with -9, with
// its /events WebSocket.

export { REPO, tempDir };

export interface JobStack {
  dir: string;
  store: JobStore;
  sites: Sites;
  manager: JobManager;
  /** a fresh manager on the same database: what a restarted server does */
  restart(): Promise<JobStack>;
  close(): Promise<void>;
}

export interface JobStackOptions {
  /** sites as in the sites file (defaults filled in by the schema) */
  sites: Record<string, unknown>[];
  dir?: string;
  adapterFactory?: (site: SiteConfig) => SchedulerAdapter;
  submitRetry?: SubmitRetryOptions;
}

export async function startJobStack(options: JobStackOptions): Promise<JobStack> {
  const dir = options.dir ?? tempDir('nexus-jobs-');
  const store = new JobStore({ file: path.join(dir, 'state.sqlite') });
  const sites = new Sites(path.join(dir, 'sites.json'));
  if (!options.dir) {
    sites.replace({ sites: options.sites });
  }
  const manager = new JobManager({
    store,
    sites,
    jobsDir: path.join(dir, 'jobs'),
    adapterFactory: options.adapterFactory,
    submitRetry: options.submitRetry ?? { attempts: 4, firstDelayMs: 50, maxDelayMs: 200 }
  });
  await manager.start();
  const close = async () => {
    await manager.close();
    store.close();
  };
  return {
    dir,
    store,
    sites,
    manager,
    close,
    restart: async () => {
      await close();
      return startJobStack({ ...options, dir });
    }
  };
}

/** Resolves with the job once `done(job)` holds, checking on every event and every 100 ms. */
export async function waitForJob(
  manager: JobManager,
  id: string,
  done: (job: JobView) => boolean,
  timeoutMs = 30_000
): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = manager.get(id);
    if (done(job)) {
      return job;
    }
    if (Date.now() > deadline) {
      throw new Error(`job ${id} still ${job.status.state} (${job.status.message ?? ''})`);
    }
    await new Promise(resolve => setTimeout(resolve, 100));
  }
}

export function waitForState(
  manager: JobManager,
  id: string,
  state: JobState,
  timeoutMs?: number
): Promise<JobView> {
  return waitForJob(manager, id, job => job.status.state === state, timeoutMs);
}

export const isFinal = (job: JobView): boolean =>
  ['COMPLETED', 'FAILED', 'CANCELED'].includes(job.status.state);

export interface ServerProcess {
  url: string;
  token: string;
  child: ChildProcess;
  request(method: string, route: string, body?: unknown): Promise<Response>;
  /** GET `/<endpoint>?<params>` with the token, as H5Web asks the h5grove endpoints */
  get(endpoint: string, params: Record<string, string>): Promise<Response>;
  /** stops the server with `signal` and waits until it is gone */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts the server on a free port with its own state directory: `server/main.ts` through tsx,
 * or a bundle (`bundle`, a path to nexus-server.mjs) with plain node.
 */
export async function startServerProcess(
  stateDir: string,
  root = stateDir,
  bundle?: string
): Promise<ServerProcess> {
  const token = 'jobs-test-token';
  const entry = bundle ? [bundle] : ['--import', 'tsx', path.join(REPO, 'server', 'main.ts')];
  const child = spawn(
    process.execPath,
    [...entry, '--root', root, '--port', '0', '--state-dir', stateDir],
    {
      cwd: bundle ? path.dirname(bundle) : REPO,
      env: { ...process.env, NEXUS_SERVER_TOKEN: token },
      stdio: 'pipe'
    }
  );
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (match) {
        resolve(match[1]);
      }
    });
    child.once('exit', code => reject(new Error(`server exited (${code}): ${stderr}`)));
  });
  child.stdout!.resume();
  return {
    url,
    token,
    child,
    request: (method, route, body) =>
      fetch(`${url}${route}`, {
        method,
        headers: { Authorization: `token ${token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body)
      }),
    get: (endpoint, params) =>
      fetch(`${url}/${endpoint}?${new URLSearchParams(params)}`, {
        headers: { Authorization: `token ${token}` }
      }),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
      }
      await exited;
    }
  };
}

/** The server's /events WebSocket, open; every message goes to `onMessage` parsed. */
export async function openEvents(
  server: ServerProcess,
  onMessage: (message: unknown) => void
): Promise<WebSocket> {
  const socket = new WebSocket(`${server.url.replace('http', 'ws')}/events?token=${server.token}`);
  socket.on('message', data => onMessage(JSON.parse(String(data))));
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** The response's JSON body, once its status is `status` (else the body is the failure). */
export async function expectJson<T>(response: Response, status: number): Promise<T> {
  const body = (await response.json()) as T;
  assert.equal(response.status, status, JSON.stringify(body));
  return body;
}
