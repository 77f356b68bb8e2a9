import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type WebSocket from 'ws';
import type { JobView } from '../../src/protocol/jobs.js';
import type {
  GridView,
  NotebookResult,
  PipelineEvent,
  RunView
} from '../../src/protocol/pipelines.js';
import { tempDir } from './helpers.js';
import { expectJson, openEvents, startServerProcess, type ServerProcess } from './jobs-helpers.js';
import { LOCAL_SITE, makeScans, runEnded, testPipeline, waitForRun } from './pipelines-helpers.js';

// The /pipelines HTTP API and its /events messages against a real server process, then a
// kill -9 in the middle of a run: after the restart no run or cell is lost and none runs twice.

async function refused(response: Response, status: number, pattern: RegExp): Promise<void> {
  const body = await expectJson<{ message: string }>(response, status);
  assert.match(body.message, pattern);
}

const getRun = (server: ServerProcess, id: string) => async () =>
  expectJson<RunView>(await server.request('GET', `/pipelines/runs/${id}`), 200);

describe('pipelines HTTP API and /events (server process)', () => {
  let server: ServerProcess;
  let socket: WebSocket;
  const messages: PipelineEvent[] = [];
  const root = tempDir('nexus-pipe-http-root-');

  before(async () => {
    server = await startServerProcess(tempDir('nexus-pipe-http-state-'), root);
    await expectJson(await server.request('PUT', '/jobs/sites', { sites: [LOCAL_SITE] }), 200);
    await expectJson(
      await server.request('PUT', '/pipelines/definitions/test', testPipeline()),
      200
    );
    socket = await openEvents(server, data => {
      const message = data as PipelineEvent | { type: 'job' };
      if (message.type !== 'job') {
        messages.push(message);
      }
    });
  });
  after(async () => {
    socket.close();
    await server.stop();
  });

  it('lists and serves definitions, the built-in one included', async () => {
    const list = await expectJson<{ name: string; builtin: boolean }[]>(
      await server.request('GET', '/pipelines/definitions'),
      200
    );
    assert.deepEqual(
      list.map(d => [d.name, d.builtin]),
      [
        ['nxrefine', true],
        ['test', false]
      ]
    );
    const builtin = await expectJson<{ steps: { id: string }[] }>(
      await server.request('GET', '/pipelines/definitions/nxrefine'),
      200
    );
    assert.deepEqual(
      builtin.steps.map(s => s.id),
      ['stack', 'max', 'find', 'refine', 'prepare', 'transform', 'combine']
    );
  });

  it('runs over HTTP, pushes every cell change and the run over /events, and exports a notebook', async () => {
    makeScans(root, 'exp', ['s1', 's2'], 'in');
    const grid0 = await expectJson<GridView>(
      await server.request('GET', '/pipelines/grid?experiment=exp&pipeline=test'),
      200
    );
    assert.deepEqual(
      grid0.rows.map(r => [r.scan, Object.values(r.cells).map(c => c.state)]),
      [
        ['s1', ['not-started', 'not-started', 'not-started']],
        ['s2', ['not-started', 'not-started', 'not-started']]
      ]
    );
    const started = await expectJson<RunView>(
      await server.request('POST', '/pipelines/runs', {
        experiment: 'exp',
        pipeline: 'test',
        site: 'local'
      }),
      201
    );
    const run = await waitForRun(getRun(server, started.id), runEnded);
    assert.equal(run.state, 'done');
    const grid = await expectJson<GridView>(
      await server.request('GET', '/pipelines/grid?experiment=exp&pipeline=test'),
      200
    );
    for (const row of grid.rows) {
      for (const [step, cell] of Object.entries(row.cells)) {
        assert.equal(cell.state, 'done', `${row.scan}/${step}`);
        // the last message pushed for each cell is the state the grid shows
        const pushed = messages.filter(
          m => m.type === 'pipeline-cell' && m.scan === row.scan && m.step === step
        );
        const last = pushed[pushed.length - 1];
        assert.ok(last?.type === 'pipeline-cell' && last.cell.state === 'done');
        assert.ok(pushed.some(m => m.type === 'pipeline-cell' && m.cell.state === 'queued'));
      }
    }
    assert.ok(
      messages.some(m => m.type === 'run' && m.run.id === run.id && m.run.state === 'done')
    );
    const completed = await expectJson<RunView[]>(
      await server.request('GET', '/pipelines/runs?filter=completed'),
      200
    );
    assert.deepEqual(
      completed.map(r => r.id),
      [run.id]
    );
    assert.deepEqual(
      await expectJson(await server.request('GET', '/pipelines/runs?filter=failed'), 200),
      []
    );
    // step logs are the job's logs
    const jobId = grid.rows[0].cells.first.jobId!;
    const stderr = await server.request('GET', `/jobs/${jobId}/logs?stream=stderr`);
    assert.match(await stderr.text(), /first: working on s1/);

    const notebook = await expectJson<NotebookResult>(
      await server.request('POST', '/pipelines/notebook', { runId: run.id }),
      201
    );
    assert.equal(notebook.path, `exp/test-run-${run.id.slice(0, 8)}.ipynb`);
    const nb = JSON.parse(fs.readFileSync(path.join(root, notebook.path), 'utf8')) as {
      nbformat: number;
      nbformat_minor: number;
      cells: { cell_type: string; source: string }[];
    };
    assert.equal(nb.nbformat, 4);
    assert.equal(nb.nbformat_minor, 5);
    const code = nb.cells.filter(c => c.cell_type === 'code').map(c => c.source);
    assert.equal(code.length, 4, 'setup and one cell per step');
    assert.match(code[2], /for task in range\(2\):/);
    assert.match(nb.cells[0].source, new RegExp(jobId));
    const byScan = await expectJson<NotebookResult>(
      await server.request('POST', '/pipelines/notebook', { experiment: 'exp', scan: 's2' }),
      201
    );
    assert.equal(byScan.path, 'exp/test-s2.ipynb');
  });

  it('persists the watch setting', async () => {
    makeScans(root, 'watched', [], '');
    fs.mkdirSync(path.join(root, 'watched'), { recursive: true });
    assert.deepEqual(
      await expectJson(await server.request('GET', '/pipelines/watch?experiment=watched'), 200),
      { experiment: 'watched', autoRun: false }
    );
    await expectJson(
      await server.request('PUT', '/pipelines/watch', { experiment: 'watched/', autoRun: true }),
      200
    );
    assert.deepEqual(
      await expectJson(await server.request('GET', '/pipelines/watch?experiment=watched'), 200),
      { experiment: 'watched', autoRun: true }
    );
  });

  it('answers bad requests with 4xx JSON messages', async () => {
    const r = (method: string, route: string, body?: unknown) =>
      server.request(method, route, body);
    await refused(
      await r('PUT', '/pipelines/definitions/bad', { name: 'bad', version: 1, steps: [] }),
      400,
      /invalid pipeline definition: pipeline\/steps must NOT have fewer than 1 items/
    );
    await refused(
      await r('PUT', '/pipelines/definitions/other', testPipeline('test')),
      400,
      /named test but is being saved as other/
    );
    await refused(
      await r('PUT', '/pipelines/definitions/bad', {
        ...testPipeline('bad'),
        steps: [{ ...testPipeline().steps[1] }]
      }),
      400,
      /step "part" runs after unknown step "first"/
    );
    await refused(
      await r('GET', '/pipelines/definitions/ghost'),
      404,
      /no pipeline definition named ghost/
    );
    await refused(
      await r('POST', '/pipelines/runs', {}),
      400,
      /must have required property 'experiment'/
    );
    await refused(
      await r('POST', '/pipelines/runs', { experiment: 'nope' }),
      404,
      /experiment folder nope not found/
    );
    await refused(
      await r('POST', '/pipelines/runs', { experiment: '../../etc' }),
      404,
      /not found/
    );
    await refused(
      await r('POST', '/pipelines/runs', { experiment: 'exp', pipeline: 'test', scans: ['zz'] }),
      400,
      /zz is not a scan of exp/
    );
    await refused(await r('GET', '/pipelines/runs?filter=soon'), 400, /filter must be one of/);
    await refused(await r('GET', '/pipelines/runs/nope'), 404, /no pipeline run nope/);
    await refused(await r('POST', '/pipelines/runs/nope/retry'), 404, /no pipeline run nope/);
    await refused(await r('GET', '/pipelines/grid'), 400, /needs experiment=/);
    await refused(
      await r('POST', '/pipelines/notebook', { runId: 'nope' }),
      404,
      /no pipeline run/
    );
    await refused(await r('DELETE', '/pipelines/runs'), 405, /not allowed/);
    await refused(await r('GET', '/pipelines/elsewhere'), 404, /Unknown endpoint/);
    const done = (
      await expectJson<RunView[]>(await r('GET', '/pipelines/runs?filter=completed'), 200)
    )[0];
    await refused(await r('POST', `/pipelines/runs/${done.id}/cancel`), 409, /already done/);
    await refused(
      await r('POST', `/pipelines/runs/${done.id}/retry`),
      409,
      /no failed or cancelled cell/
    );
  });
});

describe('pipeline crash recovery: kill -9 in the middle of a run', () => {
  it('loses no run or cell, runs no step twice, and finishes the run after the restart', async () => {
    const stateDir = tempDir('nexus-pipe-crash-state-');
    const root = tempDir('nexus-pipe-crash-root-');
    makeScans(root, 'exp', ['s1', 's2'], 'in');
    const definition = testPipeline('crash');
    // a slow first step, so that the kill comes while jobs run and others wait for them
    definition.steps[0].command = [
      ...definition.steps[0].command.slice(0, 2),
      'sleep',
      '--scan',
      '{scan}'
    ];
    definition.steps[0].params = { ms: 1500 };
    let server = await startServerProcess(stateDir, root);
    await expectJson(await server.request('PUT', '/jobs/sites', { sites: [LOCAL_SITE] }), 200);
    await expectJson(await server.request('PUT', '/pipelines/definitions/crash', definition), 200);
    // the part step reads first.txt: give it one, written by the slow step's scan folder
    for (const scan of ['s1', 's2']) {
      fs.mkdirSync(path.join(root, 'exp', scan, 'nexus'), { recursive: true });
      fs.writeFileSync(path.join(root, 'exp', scan, 'nexus', 'first.txt'), scan);
    }
    const started = await expectJson<RunView>(
      await server.request('POST', '/pipelines/runs', { experiment: 'exp', pipeline: 'crash' }),
      201
    );
    await waitForRun(
      getRun(server, started.id),
      r => r.events.some(e => e.kind === 'started'),
      20_000
    );
    await server.stop('SIGKILL');

    server = await startServerProcess(stateDir, root);
    try {
      const afterCrash = await getRun(server, started.id)();
      assert.deepEqual(afterCrash.scans, ['s1', 's2']);
      assert.deepEqual(afterCrash.steps, ['first', 'part', 'merge']);
      const run = await waitForRun(getRun(server, started.id), runEnded);
      assert.equal(run.state, 'done', JSON.stringify(run.events));
      const grid = await expectJson<GridView>(
        await server.request('GET', '/pipelines/grid?experiment=exp&pipeline=crash'),
        200
      );
      const jobs = await expectJson<JobView[]>(await server.request('GET', '/jobs'), 200);
      const cellJobs = grid.rows.flatMap(r => Object.values(r.cells).map(c => c.jobId));
      assert.equal(new Set(cellJobs).size, 6);
      // one job per cell: nothing was submitted twice
      assert.deepEqual(jobs.map(j => j.id).sort(), [...cellJobs].sort());
      for (const scan of ['s1', 's2']) {
        assert.equal(
          fs.readFileSync(path.join(root, 'exp', scan, 'nexus', 'merged.txt'), 'utf8'),
          `${scan}:0/2\n${scan}:1/2`
        );
      }
      assert.equal(run.events.filter(e => e.kind === 'completed').length, 6);
    } finally {
      await server.stop();
    }
  });
});

describe('watched folders after a restart', () => {
  it('resumes watching: a scan dropped in after the restart is run automatically', async () => {
    const stateDir = tempDir('nexus-pipe-watch-state-');
    const root = tempDir('nexus-pipe-watch-root-');
    fs.mkdirSync(path.join(root, 'exp'));
    process.env.NEXUS_WATCH_SETTLE_MS = '300';
    let server = await startServerProcess(stateDir, root);
    await expectJson(await server.request('PUT', '/jobs/sites', { sites: [LOCAL_SITE] }), 200);
    await expectJson(
      await server.request('PUT', '/pipelines/definitions/test', testPipeline()),
      200
    );
    await expectJson(
      await server.request('PUT', '/pipelines/watch', {
        experiment: 'exp',
        autoRun: true,
        pipeline: 'test'
      }),
      200
    );
    await server.stop();
    server = await startServerProcess(stateDir, root);
    try {
      makeScans(root, 'exp', ['late'], 'in');
      const deadline = Date.now() + 30_000;
      let runs: RunView[] = [];
      while (runs.length === 0) {
        assert.ok(Date.now() < deadline, 'the new scan was not run');
        await new Promise(resolve => setTimeout(resolve, 200));
        runs = await expectJson<RunView[]>(await server.request('GET', '/pipelines/runs'), 200);
      }
      assert.deepEqual(runs[0].scans, ['late']);
      assert.equal(runs[0].auto, true);
      const run = await waitForRun(getRun(server, runs[0].id), runEnded);
      assert.equal(run.state, 'done', JSON.stringify(run.events));
    } finally {
      delete process.env.NEXUS_WATCH_SETTLE_MS;
      await server.stop();
    }
  });
});
