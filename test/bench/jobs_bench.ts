// Benchmark of the Slurm job layer (issue 4) on the real single-node Slurm of scripts/slurm-up.sh:
//
//   npm run bench:jobs [-- --submit 100 --track 1000]
//
// 1. Submit overhead: the same N held jobs through bare `sbatch`, through the Slurm adapter (job
//    script written, options built) and through the job manager (intent in SQLite first, then the
//    adapter), in ms per job and as a ratio to bare sbatch. Target: < 100 ms overhead per job.
// 2. Poll cost with M tracked jobs: scheduler calls per poll (target: exactly 1) and wall time per
//    poll of the adapter and of a whole manager poll (statuses applied to the database), against a
//    bare `squeue` of the same listing.
// Jobs are submitted held (--hold) so they queue without running, and are cancelled at the end.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ProcessCommandRunner } from '../../server/jobs/command.js';
import { SlurmAdapter } from '../../server/jobs/slurm.js';
import { SQUEUE_FORMAT } from '../../server/jobs/slurm-parse.js';
import { startJobStack, tempDir } from '../server/jobs-helpers.js';
import {
  adapterJob,
  CountingRunner,
  SANDBOX_SITE,
  SLURM_NOT_RUNNING,
  slurmRunning
} from '../slurm/helpers.js';

const { values } = parseArgs({
  options: {
    submit: { type: 'string', default: '100' },
    track: { type: 'string', default: '1000' },
    polls: { type: 'string', default: '5' }
  }
});
const SUBMIT = Number(values.submit);
const TRACK = Number(values.track);
const POLLS = Number(values.polls);

if (!slurmRunning()) {
  console.error(SLURM_NOT_RUNNING);
  process.exit(1);
}

const runner = new ProcessCommandRunner();
const root = tempDir('nexus-jobs-bench-');
const toCancel: string[] = [];
const HELD = { command: ['true'], attributes: { customOptions: ['--hold'] } };

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await work();
  return { ms: performance.now() - start, value };
}

async function bareSbatch(script: string): Promise<string> {
  const result = await runner.run('sbatch', ['--parsable', '--hold', '-o', '/dev/null', script]);
  if (result.code !== 0) {
    throw new Error(`sbatch: ${result.stderr}`);
  }
  return result.stdout.trim().split(';')[0];
}

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error('timed out');
    }
    await new Promise(resolve => setTimeout(resolve, 5));
  }
}

const row = (label: string, msPerJob: number, ratio?: number) =>
  console.log(
    `${label.padEnd(44)} ${msPerJob.toFixed(1).padStart(8)} ms/job` +
      (ratio === undefined ? '' : `   ${ratio.toFixed(2)}× bare sbatch`)
  );

try {
  const script = path.join(root, 'bare.sh');
  fs.writeFileSync(script, '#!/bin/bash\ntrue\n', { mode: 0o755 });
  const adapter = new SlurmAdapter({ site: SANDBOX_SITE });
  await adapter.probe();
  toCancel.push(await bareSbatch(script)); // warm-up: controller connection, page cache

  // Interleaved, so that drift in the controller's speed (its queue grows) hits both alike.
  console.log(`submit ${SUBMIT} held jobs each way, one after the other, interleaved`);
  const bare = { ms: 0 };
  const viaAdapter = { ms: 0 };
  for (let i = 0; i < SUBMIT; i++) {
    const b = await timed(() => bareSbatch(script));
    const a = await timed(() => adapter.submit(adapterJob(root, HELD)));
    bare.ms += b.ms;
    viaAdapter.ms += a.ms;
    toCancel.push(b.value, a.value.nativeId);
  }
  const bareMs = bare.ms / SUBMIT;
  const adapterMs = viaAdapter.ms / SUBMIT;
  row('bare sbatch', bareMs);
  row('Slurm adapter (script + sbatch)', adapterMs, adapterMs / bareMs);

  const countingRunner = new CountingRunner();
  const stack = await startJobStack({
    sites: [{ ...SANDBOX_SITE, pollIntervalSeconds: 3600 }],
    adapterFactory: site => new SlurmAdapter({ site, runner: countingRunner })
  });
  try {
    const submitAll = async (count: number) =>
      timed(async () => {
        const ids = Array.from({ length: count }, () => stack.manager.submit(HELD, 'sandbox').id);
        await waitUntil(
          () => ids.every(id => stack.manager.get(id).nativeId !== undefined),
          600_000
        );
        return ids;
      });
    const burst = await submitAll(SUBMIT);
    const managerMs = burst.ms / SUBMIT;
    row(`job manager (${SUBMIT} submitted at once)`, managerMs, managerMs / bareMs);
    console.log(
      `overhead over bare sbatch: adapter ${(adapterMs - bareMs).toFixed(1)} ms/job, ` +
        `manager ${(managerMs - bareMs).toFixed(1)} ms/job (target < 100)`
    );

    const rest = await submitAll(TRACK - SUBMIT);
    const tracked = [...burst.value, ...rest.value].map(id => stack.manager.get(id).nativeId!);
    toCancel.push(...tracked);

    console.log(`\npoll with ${tracked.length} tracked jobs (${POLLS} polls each)`);
    const floor = await timed(async () => {
      for (let i = 0; i < POLLS; i++) {
        await runner.run('squeue', ['-h', '-r', '-t', 'all', '--me', '-o', SQUEUE_FORMAT]);
      }
    });
    const adapterPoll = await timed(async () => {
      for (let i = 0; i < POLLS; i++) {
        const statuses = await adapter.poll(tracked);
        if (statuses.some(s => s.missing || s.state !== 'QUEUED')) {
          throw new Error('a held job is not reported QUEUED');
        }
      }
    });
    await stack.manager.pollNow('sandbox'); // the site's one-time probe: sinfo --version, sacct
    countingRunner.calls.length = 0;
    const managerPoll = await timed(async () => {
      for (let i = 0; i < POLLS; i++) {
        await stack.manager.pollNow('sandbox');
      }
    });
    const calls = countingRunner.calls;
    const floorMs = floor.ms / POLLS;
    const pollRow = (label: string, ms: number) =>
      console.log(
        `${label.padEnd(44)} ${ms.toFixed(1).padStart(8)} ms/poll   ${(ms / floorMs).toFixed(2)}× bare squeue`
      );
    pollRow('bare squeue (the floor)', floorMs);
    pollRow('Slurm adapter poll', adapterPoll.ms / POLLS);
    pollRow('job manager poll (statuses applied)', managerPoll.ms / POLLS);
    console.log(
      `scheduler calls per manager poll: ${calls.length / POLLS} (${[...new Set(calls)].join(', ')}; target 1)`
    );
    if (calls.length !== POLLS || calls.some(c => c !== 'squeue')) {
      process.exitCode = 1;
    }
  } finally {
    await stack.close();
  }
} finally {
  for (let i = 0; i < toCancel.length; i += 500) {
    await runner.run('scancel', toCancel.slice(i, i + 500));
  }
  fs.rmSync(root, { recursive: true, force: true });
}
