// Benchmark of the pipeline runner's own cost (issue 5) on the local executor:
//
//   npm run bench:pipelines [-- --scans 50]
//
// 1. Start: POST-equivalent startRun of S scans × 3 steps (cells written, jobs submitted with
//    afterOk chains) against submitting the same S × 3 jobs straight to the job manager.
// 2. End to end: from the start to every cell done, against the same jobs through the manager
//    alone (done = every job COMPLETED). Steps are `true`, so what is measured is bookkeeping.
// 3. Grid: GET /pipelines/grid's work for the finished experiment, ms per call.
import { parseArgs } from 'node:util';
import type { JobSpec } from '../../src/protocol/jobs.js';
import { gridOf } from '../../server/pipelines/grid.js';
import { tempDir } from '../server/jobs-helpers.js';
import {
  makeScans,
  runEnded,
  startPipelineStack,
  waitForRun
} from '../server/pipelines-helpers.js';

const { values } = parseArgs({ options: { scans: { type: 'string', default: '50' } } });
const SCANS = Number(values.scans);
const STEPS = ['a', 'b', 'c'];

const root = tempDir('nexus-pipe-bench-');
const names = Array.from({ length: SCANS }, (_, i) => `scan${String(i).padStart(4, '0')}`);
makeScans(root, 'exp', names, '');
const stack = await startPipelineStack({
  root,
  sites: [{ name: 'local', scheduler: 'local', pollIntervalSeconds: 0.2, concurrency: 2 }]
});
stack.definitions.put('bench', {
  name: 'bench',
  version: 1,
  steps: STEPS.map((id, i) => ({
    id,
    label: id,
    command: ['true'],
    ...(i > 0 ? { after: [STEPS[i - 1]] } : {})
  }))
});

// Baseline: the same chains straight through the job manager.
const { manager } = stack.jobs;
let start = performance.now();
const ids: string[] = [];
for (const name of names) {
  let previous: string | undefined;
  for (const step of STEPS) {
    const spec: JobSpec = {
      name: `${step}-${name}`,
      command: ['true'],
      directory: `${root}/exp/${name}`,
      ...(previous ? { afterOk: [previous] } : {})
    };
    previous = manager.submit(spec, 'local').id;
    ids.push(previous);
  }
}
const managerSubmitMs = performance.now() - start;
while (!ids.every(id => manager.get(id).status.state === 'COMPLETED')) {
  await new Promise(resolve => setTimeout(resolve, 50));
}
const managerTotalMs = performance.now() - start;

start = performance.now();
const run = stack.runner.startRun({ experiment: 'exp', pipeline: 'bench' });
const runnerStartMs = performance.now() - start;
const done = await waitForRun(() => stack.runner.view(run.id), runEnded, 600_000);
const runnerTotalMs = performance.now() - start;
if (done.state !== 'done') {
  throw new Error(`run ended ${done.state}`);
}

const GRID_CALLS = 20;
start = performance.now();
for (let i = 0; i < GRID_CALLS; i++) {
  gridOf(stack.store, stack.definitions, root, 'exp', 'bench');
}
const gridMs = (performance.now() - start) / GRID_CALLS;
await stack.close();

const jobs = SCANS * STEPS.length;
const row = (label: string, ms: number, baseline: number) =>
  console.log(
    `${label.padEnd(44)} ${ms.toFixed(0).padStart(7)} ms  (${(ms / jobs).toFixed(2)} ms/job)  ratio ${(ms / baseline).toFixed(2)}`
  );
console.log(`${SCANS} scans × ${STEPS.length} steps = ${jobs} jobs, local executor, concurrency 2`);
row('submit: job manager alone (baseline)', managerSubmitMs, managerSubmitMs);
row('submit: pipeline runner (cells + jobs)', runnerStartMs, managerSubmitMs);
row('all done: job manager alone (baseline)', managerTotalMs, managerTotalMs);
row('all done: pipeline runner', runnerTotalMs, managerTotalMs);
console.log(`${'grid of the experiment'.padEnd(44)} ${gridMs.toFixed(1).padStart(7)} ms per call`);
