import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { JobView } from '../../src/protocol/jobs.js';
import type { GridView, RunView } from '../../src/protocol/pipelines.js';
import { expectJson, startServerProcess, tempDir, type ServerProcess } from './jobs-helpers.js';
import { LOCAL_SITE, makeScans, runEnded, testPipeline, waitForRun } from './pipelines-helpers.js';

// The job layer's crash test (kill -9 while 100 jobs are submitted) for pipelines: several runs
// are started at once and the server is killed -9 while they are being created and their first
// jobs submitted. After the restart every run that was acknowledged is there, every run there
// finishes with all its steps done, and no step was submitted twice.

const EXPERIMENTS = Array.from({ length: 6 }, (_, i) => `exp${i + 1}`);

test('kill -9 while 6 pipeline runs are being started: 0 runs or steps lost, none doubled', async () => {
  const stateDir = tempDir('nexus-pipe-burst-state-');
  const root = tempDir('nexus-pipe-burst-root-');
  for (const experiment of EXPERIMENTS) {
    makeScans(root, experiment, ['s1'], 'in');
  }
  let server: ServerProcess = await startServerProcess(stateDir, root);
  await expectJson(await server.request('PUT', '/jobs/sites', { sites: [LOCAL_SITE] }), 200);
  await expectJson(
    await server.request('PUT', '/pipelines/definitions/burst', testPipeline('burst')),
    200
  );

  const acknowledged: string[] = [];
  let halfAcknowledged: () => void = () => undefined;
  const half = new Promise<void>(resolve => (halfAcknowledged = resolve));
  const posts = EXPERIMENTS.map(experiment =>
    server
      .request('POST', '/pipelines/runs', { experiment, pipeline: 'burst' })
      .then(async r => {
        if (r.status === 201) {
          acknowledged.push(((await r.json()) as RunView).id);
          if (acknowledged.length === EXPERIMENTS.length / 2) {
            halfAcknowledged();
          }
        }
      })
      .catch(() => undefined)
  );
  // kill once half the runs are acknowledged: the others are in flight, the first jobs starting
  await Promise.race([half, Promise.all(posts)]);
  await server.stop('SIGKILL');
  await Promise.all(posts);
  assert.ok(acknowledged.length >= 1);

  server = await startServerProcess(stateDir, root);
  try {
    const runs = await expectJson<RunView[]>(await server.request('GET', '/pipelines/runs'), 200);
    const ids = runs.map(r => r.id);
    for (const id of acknowledged) {
      assert.ok(ids.includes(id), `acknowledged run ${id} lost`);
    }
    const cellJobs: string[] = [];
    for (const listed of runs) {
      const run = await waitForRun(
        async () =>
          expectJson<RunView>(await server.request('GET', `/pipelines/runs/${listed.id}`), 200),
        runEnded,
        120_000
      );
      assert.equal(run.state, 'done', JSON.stringify(run.events));
      assert.deepEqual(run.steps, ['first', 'part', 'merge']);
      const grid = await expectJson<GridView>(
        await server.request('GET', `/pipelines/grid?experiment=${run.experiment}&pipeline=burst`),
        200
      );
      for (const cell of Object.values(grid.rows[0].cells)) {
        assert.equal(cell.state, 'done');
        cellJobs.push(cell.jobId!);
      }
      assert.equal(
        fs.readFileSync(path.join(root, run.experiment, 's1', 'nexus', 'merged.txt'), 'utf8'),
        'inx:0/2\ninx:1/2' // first.txt = input.txt + the value param
      );
    }
    // one job per step of every run: nothing submitted twice, nothing left without its run
    const jobs = await expectJson<JobView[]>(await server.request('GET', '/jobs'), 200);
    assert.equal(new Set(cellJobs).size, runs.length * 3);
    assert.deepEqual(jobs.map(j => j.id).sort(), [...cellJobs].sort());
    console.log(
      `pipeline crash: ${acknowledged.length} runs acknowledged before the kill, ${runs.length} recorded, all done`
    );
  } finally {
    await server.stop();
  }
});
