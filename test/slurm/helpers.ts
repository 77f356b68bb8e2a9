import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { JobSpec } from '../../src/protocol/jobs.js';
import type { AdapterJob, CommandRunner, PolledStatus } from '../../server/jobs/adapter.js';
import { ProcessCommandRunner } from '../../server/jobs/command.js';
import { parseSites, type SiteConfig } from '../../server/jobs/sites.js';
import type { SlurmAdapter } from '../../server/jobs/slurm.js';
import { tempDir } from '../server/helpers.js';

// Shared by the tests and the benchmark that run against the real single-node Slurm brought up by
// scripts/slurm-up.sh (debug partition, 2 h; demand partition, 10 min).

export const SLURM_NOT_RUNNING = 'Slurm not running: start it with sudo scripts/slurm-up.sh';

export function slurmRunning(): boolean {
  try {
    return execFileSync('scontrol', ['ping'], { encoding: 'utf8', timeout: 10_000 }).includes('UP');
  } catch {
    return false;
  }
}

/** The sandbox as in a sites file: demand is short, realtime is a QOS this user was not granted. */
export const SANDBOX = {
  name: 'sandbox',
  scheduler: 'slurm',
  pollIntervalSeconds: 0.5,
  defaultQueue: 'debug',
  queues: [
    { name: 'debug', kind: 'partition' },
    { name: 'demand', kind: 'partition', maxDurationSeconds: 600, maxNodes: 1 },
    { name: 'realtime', kind: 'qos', accessGranted: false }
  ]
};

/** The sandbox parsed (defaults filled in), polled every second. */
export const SANDBOX_SITE: SiteConfig = parseSites({
  sites: [{ ...SANDBOX, pollIntervalSeconds: 1 }]
}).sites[0];

export function tempJobRoot(): string {
  return tempDir('nexus-slurm-');
}

let counter = 0;

export function adapterJob(root: string, spec: JobSpec, afterOkNative?: string[]): AdapterJob {
  counter += 1;
  const uuid = `${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
  return { uuid, attempt: 1, tag: `${uuid}.1`, spec, jobDir: path.join(root, uuid), afterOkNative };
}

/** Counts scheduler commands by name, so tests can prove "one call per poll". */
export class CountingRunner implements CommandRunner {
  readonly calls: string[] = [];
  private readonly inner = new ProcessCommandRunner();

  run(...args: Parameters<CommandRunner['run']>): ReturnType<CommandRunner['run']> {
    this.calls.push(args[0]);
    return this.inner.run(...args);
  }
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** Polls (as the manager would) until `done` holds; a job squeue forgot goes to resolveMissing. */
export async function pollUntil(
  adapter: SlurmAdapter,
  job: AdapterJob,
  nativeId: string,
  done: (status: PolledStatus) => boolean,
  timeoutMs = 60_000
): Promise<PolledStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: PolledStatus | undefined;
  while (Date.now() < deadline) {
    const [polled] = await adapter.poll([nativeId]);
    last = polled.missing ? await adapter.resolveMissing(nativeId, job.jobDir) : polled;
    if (done(last)) {
      return last;
    }
    await sleep(300);
  }
  throw new Error(
    `job ${nativeId} did not reach the expected state; last: ${JSON.stringify(last)}`
  );
}

export const isFinal = (s: PolledStatus) =>
  !s.missing && ['COMPLETED', 'FAILED', 'CANCELED'].includes(s.state);
