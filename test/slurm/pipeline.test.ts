import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO, tempDir } from '../server/jobs-helpers.js';
import {
  LOCAL_SITE,
  makeScans,
  runEnded,
  startPipelineStack,
  testPipeline,
  waitForRun,
  type PipelineStack
} from '../server/pipelines-helpers.js';
import { SANDBOX, SLURM_NOT_RUNNING, slurmRunning } from './helpers.js';

// The built-in nxrefine pipeline submitted to the real Slurm (scripts/slurm-up.sh): every step a
// Slurm job chained with afterok, the transform an array job merged by combine. Its merged volume
// must equal the one the local executor makes from a copy of the same scan.

const PYTHON = path.join(REPO, '.venv', 'bin', 'python');

/** Largest relative difference of the two files' plotted signals (h5py, NeXus default chain). */
function signalDifference(a: string, b: string): { difference: number; total: number } {
  const script = `
import sys, json, h5py, numpy as np
def signal(path):
    with h5py.File(path, "r") as f:
        g = f
        while "default" in g.attrs:
            g = g[g.attrs["default"]]
        return g[g.attrs["signal"]][...]
a, b = signal(sys.argv[1]), signal(sys.argv[2])
assert a.shape == b.shape, (a.shape, b.shape)
scale = max(float(np.nanmax(np.abs(a))), 1e-30)
print(json.dumps({"difference": float(np.nanmax(np.abs(a - b))) / scale, "total": float(np.nansum(a))}))
`;
  return JSON.parse(execFileSync(PYTHON, ['-c', script, a, b], { encoding: 'utf8' })) as {
    difference: number;
    total: number;
  };
}

if (!slurmRunning()) {
  it('Slurm is reachable', () => assert.fail(SLURM_NOT_RUNNING));
} else {
  describe('nxrefine pipeline on Slurm', () => {
    let stack: PipelineStack;
    const root = tempDir('nexus-slurm-pipe-');
    before(async () => {
      fs.chmodSync(root, 0o755);
      const scan = path.join(root, 'local', 'scan1');
      execFileSync(PYTHON, ['-m', 'jupyterlab_nexus.demo', scan, '--tiff-scan'], { cwd: REPO });
      fs.cpSync(path.join(root, 'local'), path.join(root, 'slurm'), { recursive: true });
      stack = await startPipelineStack({ root, sites: [LOCAL_SITE, SANDBOX] });
    });
    after(() => stack.close());

    it('chains the steps of each scan with afterok, an array step in the middle', async () => {
      makeScans(root, 'small', ['s1', 's2'], 'in');
      stack.definitions.put('test', testPipeline('test', 3));
      const started = stack.runner.startRun({
        experiment: 'small',
        pipeline: 'test',
        site: 'sandbox'
      });
      const run = await waitForRun(() => stack.runner.view(started.id), runEnded, 300_000);
      assert.equal(run.state, 'done', JSON.stringify(run.events));
      for (const scan of ['s1', 's2']) {
        assert.equal(
          fs.readFileSync(path.join(root, 'small', scan, 'nexus', 'merged.txt'), 'utf8'),
          'inx:0/3\ninx:1/3\ninx:2/3'
        );
      }
      const part = stack.store.cellsOfRun(run.id).find(c => c.step === 'part')!;
      const job = stack.jobs.manager.get(part.jobId!);
      assert.equal(job.spec.arrayTasks, 3);
      assert.match(job.nativeId!, /^\d+$/);
    });

    it('gives the same merged volume as the local executor, the transform as an array job', async () => {
      const onSlurm = stack.runner.startRun({
        experiment: 'slurm',
        site: 'sandbox',
        queue: 'demand'
      });
      const onLocal = stack.runner.startRun({ experiment: 'local', site: 'local' });
      const slurmRun = await waitForRun(() => stack.runner.view(onSlurm.id), runEnded, 900_000);
      const localRun = await waitForRun(() => stack.runner.view(onLocal.id), runEnded, 900_000);
      assert.equal(localRun.state, 'done', JSON.stringify(localRun.events));
      assert.equal(slurmRun.state, 'done', JSON.stringify(slurmRun.events));

      const cells = stack.store.cellsOfRun(slurmRun.id);
      const jobOf = (step: string) =>
        stack.jobs.manager.get(cells.find(c => c.step === step)!.jobId!);
      for (const cell of cells) {
        const job = stack.jobs.manager.get(cell.jobId!);
        assert.equal(job.site, 'sandbox');
        assert.equal(job.spec.attributes?.queue, 'demand');
        // demand requires a time limit: steps without their own get the queue's maximum
        assert.equal(job.spec.attributes?.durationSeconds, 600);
        assert.match(job.nativeId!, /^\d+$/, `${cell.step} ran as a Slurm job`);
      }
      const transform = jobOf('transform');
      assert.equal(transform.spec.arrayTasks, 4);
      assert.deepEqual(transform.spec.afterOk, [jobOf('prepare').id]);
      assert.deepEqual(jobOf('combine').spec.afterOk, [transform.id]);
      for (let task = 0; task < 4; task++) {
        assert.ok(
          fs.existsSync(
            path.join(root, 'slurm', 'scan1', 'nexus', `transform-part-${task}-of-4.nxs`)
          ),
          `array task ${task} wrote its part`
        );
      }

      const compared = signalDifference(
        path.join(root, 'local', 'scan1', 'nexus', 'transform.nxs'),
        path.join(root, 'slurm', 'scan1', 'nexus', 'transform.nxs')
      );
      assert.ok(compared.total > 0, 'the merged volume holds counts');
      assert.ok(compared.difference < 1e-6, JSON.stringify(compared));
    });
  });
}
