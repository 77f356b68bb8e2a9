import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PipelineEvent } from '../../src/protocol/pipelines.js';
import { DefinitionError, validateDefinition } from '../../server/pipelines/definitions.js';
import { gridOf } from '../../server/pipelines/grid.js';
import type { RunRecord } from '../../server/pipelines/pipeline-store.js';
import { PipelineRunner } from '../../server/pipelines/runner.js';
import {
  LOCAL_SITE,
  makeScans,
  runEnded,
  startPipelineStack,
  testPipeline,
  waitForRun,
  type PipelineStack
} from './pipelines-helpers.js';

// The pipeline runner over the real job layer (local executor, real processes, real SQLite):
// runs, failures with their stderr, retry, cancel, disabled steps, the folder watcher.

const read = (file: string): string => fs.readFileSync(file, 'utf8');

describe('pipeline runner on the local executor', () => {
  let stack: PipelineStack;
  const messages: PipelineEvent[] = [];
  before(async () => {
    stack = await startPipelineStack();
    stack.runner.on('message', (m: PipelineEvent) => messages.push(m));
    stack.definitions.put('test', testPipeline());
  });
  after(() => stack.close());

  it('runs 2 scans × 3 steps (one an array) to done, in dependency order, with durations', async () => {
    makeScans(stack.root, 'exp1', ['scan1', 'scan2'], 'in');
    const started = stack.runner.startRun({ experiment: 'exp1', pipeline: 'test' });
    assert.deepEqual(started.scans, ['scan1', 'scan2']);
    assert.deepEqual(started.steps, ['first', 'part', 'merge']);
    const run = await waitForRun(() => stack.runner.view(started.id), runEnded);
    assert.equal(run.state, 'done', JSON.stringify(run.events));
    for (const scan of ['scan1', 'scan2']) {
      const out = path.join(stack.root, 'exp1', scan, 'nexus');
      // params are appended (--value x); {tasks} is 2 for the array step and for its merge
      assert.equal(read(path.join(out, 'merged.txt')), 'inx:0/2\ninx:1/2');
    }
    const grid = gridOf(stack.store, stack.definitions, stack.root, 'exp1', 'test');
    assert.deepEqual(
      grid.rows.map(r => [r.scan, Object.values(r.cells).map(c => c.state)]),
      [
        ['scan1', ['done', 'done', 'done']],
        ['scan2', ['done', 'done', 'done']]
      ]
    );
    const completed = run.events.filter(e => e.kind === 'completed');
    assert.equal(completed.length, 6);
    for (const event of completed) {
      assert.ok(event.durationMs! >= 0 && event.durationMs! < 60_000, JSON.stringify(event));
      assert.ok(event.jobId);
    }
    // each step's job started only after the previous step's job completed
    for (const scan of ['scan1', 'scan2']) {
      const end = (step: string) =>
        Date.parse(completed.find(e => e.scan === scan && e.step === step)!.time);
      const job = (step: string) =>
        stack.jobs.manager.get(grid.rows.find(r => r.scan === scan)!.cells[step].jobId!);
      const activeAt = (step: string) =>
        Date.parse(
          job(step).history.find(s => s.state === 'ACTIVE')?.time ?? job(step).status.time
        );
      assert.ok(activeAt('part') >= end('first') - 1000);
      assert.equal(job('part').spec.arrayTasks, 2);
      assert.deepEqual(job('part').spec.afterOk, [
        grid.rows.find(r => r.scan === scan)!.cells.first.jobId
      ]);
      assert.ok(activeAt('merge') >= end('part') - 1000);
    }
    // every cell change and the run's end were pushed
    const cellMessages = messages.filter(
      m => m.type === 'pipeline-cell' && m.experiment === 'exp1'
    );
    assert.ok(cellMessages.some(m => m.type === 'pipeline-cell' && m.cell.state === 'done'));
    assert.ok(
      messages.some(m => m.type === 'run' && m.run.id === run.id && m.run.state === 'done')
    );
  });

  it('shows a failing step as failed with its stderr, skips its dependants, and retry succeeds once the input is fixed', async () => {
    makeScans(stack.root, 'exp2', ['good', 'bad'], 'in');
    fs.rmSync(path.join(stack.root, 'exp2', 'bad', 'input.txt'));
    const started = stack.runner.startRun({ experiment: 'exp2', pipeline: 'test' });
    const failed = await waitForRun(() => stack.runner.view(started.id), runEnded);
    assert.equal(failed.state, 'failed');
    const grid = gridOf(stack.store, stack.definitions, stack.root, 'exp2', 'test');
    const bad = grid.rows.find(r => r.scan === 'bad')!.cells;
    assert.equal(bad.first.state, 'failed');
    assert.match(bad.first.message!, /first: input.txt missing in .*bad/);
    assert.ok(['canceled', 'failed'].includes(bad.part.state), bad.part.state);
    assert.ok(['canceled', 'failed'].includes(bad.merge.state), bad.merge.state);
    assert.deepEqual(
      Object.values(grid.rows.find(r => r.scan === 'good')!.cells).map(c => c.state),
      ['done', 'done', 'done']
    );
    const failure = failed.events.find(e => e.kind === 'failed' && e.scan === 'bad')!;
    assert.match(failure.message!, /input.txt missing/);
    // the full stderr stays readable through the job's logs
    assert.match(read(stack.jobs.manager.logFile(bad.first.jobId!, 'stderr')!), /working on bad/);

    assert.throws(() => stack.runner.retry('no-such-run'), /no pipeline run/);
    fs.writeFileSync(path.join(stack.root, 'exp2', 'bad', 'input.txt'), 'fixed');
    const goodJobs = Object.values(grid.rows.find(r => r.scan === 'good')!.cells).map(c => c.jobId);
    stack.runner.retry(started.id);
    const retried = await waitForRun(() => stack.runner.view(started.id), runEnded);
    assert.equal(retried.state, 'done', JSON.stringify(retried.events));
    assert.equal(
      read(path.join(stack.root, 'exp2', 'bad', 'nexus', 'merged.txt')),
      'fixedx:0/2\nfixedx:1/2'
    );
    assert.equal(retried.events.filter(e => e.kind === 'retried').length, 3);
    const after = gridOf(stack.store, stack.definitions, stack.root, 'exp2', 'test');
    // the scan that was done is not run again
    assert.deepEqual(
      Object.values(after.rows.find(r => r.scan === 'good')!.cells).map(c => c.jobId),
      goodJobs
    );
    assert.throws(() => stack.runner.retry(started.id), /no failed or cancelled cell/);
  });

  it('cancels every job of a run', async () => {
    makeScans(stack.root, 'exp3', ['s1', 's2'], 'in');
    stack.definitions.put('slow', {
      name: 'slow',
      version: 1,
      steps: [
        {
          id: 'sleep',
          label: 'Sleep',
          command: [
            process.execPath,
            testPipeline().steps[0].command[1],
            'sleep',
            '--scan',
            '{scan}'
          ],
          params: { ms: 60000 }
        },
        { id: 'after', label: 'After', command: ['true'], after: ['sleep'] }
      ]
    });
    const started = stack.runner.startRun({ experiment: 'exp3', pipeline: 'slow' });
    await waitForRun(
      () => stack.runner.view(started.id),
      r => r.events.filter(e => e.kind === 'started').length === 2,
      20_000
    );
    await stack.runner.cancel(started.id);
    const run = await waitForRun(() => stack.runner.view(started.id), runEnded, 20_000);
    assert.equal(run.state, 'canceled');
    for (const cell of stack.store.cellsOfRun(run.id)) {
      assert.equal(cell.state, 'canceled', `${cell.scan}/${cell.step}`);
    }
    assert.ok(!fs.existsSync(path.join(stack.root, 'exp3', 's1', 'nexus', 'slept.txt')));
    await assert.rejects(stack.runner.cancel(started.id), /already canceled/);
  });

  it('skips a disabled step and chains its dependants to the step before it', async () => {
    makeScans(stack.root, 'exp4', ['s1'], 'in');
    const definition = testPipeline('reordered');
    // a user step with its own command, inserted between first and part; part disabled
    definition.steps.splice(1, 0, {
      id: 'mine',
      label: 'My step',
      command: [
        'python3',
        '-c',
        'import sys, pathlib; pathlib.Path(sys.argv[1], "nexus", "mine.txt").write_text(sys.argv[3])',
        '{scan}'
      ],
      params: { note: 'hello world' },
      after: ['first']
    });
    definition.steps[2].enabled = false;
    definition.steps[3].after = ['mine', 'part'];
    stack.definitions.put('reordered', definition);
    const started = stack.runner.startRun({ experiment: 'exp4', pipeline: 'reordered' });
    assert.deepEqual(started.steps, ['first', 'mine', 'merge']);
    const run = await waitForRun(() => stack.runner.view(started.id), runEnded);
    // merge ran after mine (and through the disabled part, after first); it fails for lack of parts
    assert.equal(read(path.join(stack.root, 'exp4', 's1', 'nexus', 'mine.txt')), 'hello world');
    const merge = stack.store.cellsOfRun(run.id).find(c => c.step === 'merge')!;
    assert.equal(merge.state, 'failed');
    assert.match(merge.message!, /merge: part 0 missing/);
    const job = stack.jobs.manager.get(merge.jobId!);
    const jobOf = (step: string) =>
      stack.store.cellsOfRun(run.id).find(c => c.step === step)!.jobId;
    // after mine, and after first through the disabled part (first is also before mine)
    assert.ok(job.spec.afterOk!.includes(jobOf('mine')!));
    assert.deepEqual(
      job.spec.afterOk!.filter(id => id !== jobOf('mine') && id !== jobOf('first')),
      []
    );
  });

  it('refuses unknown scans, steps and sites before running anything', () => {
    makeScans(stack.root, 'exp5', ['s1'], 'in');
    assert.throws(
      () => stack.runner.startRun({ experiment: 'exp5', pipeline: 'test', scans: ['nope'] }),
      /nope is not a scan of exp5/
    );
    assert.throws(
      () => stack.runner.startRun({ experiment: 'exp5', pipeline: 'test', steps: ['nope'] }),
      /step nope is not an enabled step/
    );
    assert.throws(
      () => stack.runner.startRun({ experiment: 'exp5', pipeline: 'test', site: 'mars' }),
      /unknown site mars/
    );
    assert.throws(
      () => stack.runner.startRun({ experiment: '../..', pipeline: 'test' }),
      /not found/
    );
    assert.throws(
      () => stack.runner.startRun({ experiment: 'exp5', pipeline: 'nope' }),
      /no pipeline definition named nope/
    );
    assert.equal(stack.runner.list().filter(r => r.experiment === 'exp5').length, 0);
  });

  it('pushes a new scan folder of a watched experiment as a row of not-started cells, without running it', async () => {
    fs.mkdirSync(path.join(stack.root, 'exp8'));
    await stack.watcher.set({ experiment: 'exp8', autoRun: false, pipeline: 'test' });
    makeScans(stack.root, 'exp8', ['fresh'], 'in');
    const deadline = Date.now() + 20_000;
    const pushed = () =>
      messages.filter(m => m.type === 'pipeline-cell' && m.experiment === 'exp8');
    while (pushed().length < 3) {
      assert.ok(Date.now() < deadline, 'no row pushed for the new scan');
      await new Promise(resolve => setTimeout(resolve, 100));
    }
    assert.deepEqual(
      pushed().map(m => m.type === 'pipeline-cell' && [m.scan, m.step, m.cell.state]),
      [
        ['fresh', 'first', 'not-started'],
        ['fresh', 'part', 'not-started'],
        ['fresh', 'merge', 'not-started']
      ]
    );
    assert.equal(stack.runner.list().filter(r => r.experiment === 'exp8').length, 0);
  });

  it('starts the pipeline on a scan folder dropped into a watched experiment with auto-run on', async () => {
    makeScans(stack.root, 'exp6', ['old'], 'in');
    await stack.watcher.set({ experiment: 'exp6', autoRun: true, pipeline: 'test' });
    assert.deepEqual(stack.watcher.get('exp6'), {
      experiment: 'exp6',
      autoRun: true,
      pipeline: 'test'
    });
    // frames first, scan.json last, as an acquisition would
    const dir = path.join(stack.root, 'exp6', 'new');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'input.txt'), 'dropped');
    fs.writeFileSync(path.join(dir, 'scan.json'), '{}');
    const deadline = Date.now() + 20_000;
    let run;
    while (!(run = stack.runner.list().find(r => r.experiment === 'exp6'))) {
      assert.ok(Date.now() < deadline, 'no run started for the new scan');
      await new Promise(resolve => setTimeout(resolve, 100));
    }
    assert.deepEqual(run.scans, ['new']);
    assert.equal(run.auto, true);
    const done = await waitForRun(() => stack.runner.view(run.id), runEnded);
    assert.equal(done.state, 'done');
    assert.equal(read(path.join(dir, 'nexus', 'merged.txt')), 'droppedx:0/2\ndroppedx:1/2');
    // the scan that was there before watching started is left alone
    assert.equal(stack.runner.list().filter(r => r.experiment === 'exp6').length, 1);
  });
});

describe('pipeline definitions', () => {
  it('accepts the built-in pipeline and reports what is wrong with a bad one', () => {
    const bad = (value: unknown, pattern: RegExp) =>
      assert.throws(
        () => validateDefinition(value),
        (err: Error) => err instanceof DefinitionError && pattern.test(err.message)
      );
    const ok = testPipeline();
    validateDefinition(ok);
    bad({ ...ok, version: 2 }, /pipeline\/version must be equal to constant/);
    bad({ ...ok, steps: [{ id: 'a', label: 'A' }] }, /must have required property 'command'/);
    bad(
      { ...ok, steps: [{ id: 'a', label: 'A', command: [] }] },
      /command must NOT have fewer than 1 items/
    );
    bad({ ...ok, steps: [ok.steps[0], ok.steps[0]] }, /step id "first" is used twice/);
    bad(
      { ...ok, steps: [{ ...ok.steps[0], after: ['ghost'] }] },
      /runs after unknown step "ghost"/
    );
    bad(
      { ...ok, steps: [{ ...ok.steps[0], after: ['merge'] }, ok.steps[1], ok.steps[2]] },
      /cycle: first → part → merge → first|cycle/
    );
    bad({ ...ok, steps: [{ ...ok.steps[1], array: { tasks: 0 } }] }, /tasks must be >= 1/);
  });
});

describe('pipeline runner restart', () => {
  it('adopts the job of a cell submitted just before a crash instead of submitting it again', async () => {
    const crashed = await startPipelineStack();
    makeScans(crashed.root, 'exp7', ['s1'], 'in');
    const definition = testPipeline();
    // what a crash leaves: the run and its cells recorded, the first job submitted, not recorded
    const run: RunRecord = {
      id: 'crashed-run',
      experiment: 'exp7',
      pipeline: 'test',
      definition,
      scans: ['s1'],
      steps: ['first', 'part', 'merge'],
      site: 'local',
      state: 'queued',
      created: new Date().toISOString(),
      auto: false
    };
    crashed.store.insertRun(
      run,
      run.steps.map(step => ({
        runId: run.id,
        scan: 's1',
        step,
        state: 'queued',
        updated: run.created
      }))
    );
    const orphan = crashed.jobs.manager.submit(
      crashed.runner.jobSpec(run, definition.steps[0], 's1', []),
      'local'
    );
    crashed.runner.close();
    const restarted = new PipelineRunner({
      store: crashed.store,
      manager: crashed.jobs.manager,
      sites: crashed.jobs.sites,
      definitions: crashed.definitions,
      root: crashed.root,
      bundleDir: ''
    });
    try {
      restarted.start();
      const done = await waitForRun(() => restarted.view(run.id), runEnded);
      assert.equal(done.state, 'done', JSON.stringify(done.events));
      const cells = crashed.store.cellsOfRun(run.id);
      assert.equal(cells.find(c => c.step === 'first')!.jobId, orphan.id);
      const jobsOfRun = crashed.jobs.manager
        .list()
        .filter(j => j.spec.environment?.NEXUS_PIPELINE_CELL?.startsWith(`${run.id}/`));
      assert.equal(jobsOfRun.length, 3, 'one job per cell');
    } finally {
      restarted.close();
      await crashed.close();
    }
  });
});

describe('pipeline runner across sites', () => {
  it('runs a step on its own site once the step before it (elsewhere) is done', async () => {
    const stack = await startPipelineStack({
      sites: [LOCAL_SITE, { ...LOCAL_SITE, name: 'elsewhere' }]
    });
    try {
      makeScans(stack.root, 'exp', ['s1'], 'in');
      const definition = testPipeline('split');
      definition.steps[1].site = 'elsewhere';
      stack.definitions.put('split', definition);
      const started = stack.runner.startRun({ experiment: 'exp', pipeline: 'split' });
      const run = await waitForRun(() => stack.runner.view(started.id), runEnded);
      assert.equal(run.state, 'done', JSON.stringify(run.events));
      const cells = stack.store.cellsOfRun(run.id);
      const job = (step: string) =>
        stack.jobs.manager.get(cells.find(c => c.step === step)!.jobId!);
      assert.equal(job('first').site, 'local');
      assert.equal(job('part').site, 'elsewhere');
      assert.equal(job('merge').site, 'local');
      // no afterOk across sites: submitted only after the dependency completed
      assert.equal(job('part').spec.afterOk, undefined);
      const firstDone = job('first').history.find(s => s.state === 'COMPLETED')!.time;
      assert.ok(job('part').history[0].time >= firstDone);
      assert.equal(
        fs.readFileSync(path.join(stack.root, 'exp', 's1', 'nexus', 'merged.txt'), 'utf8'),
        'inx:0/2\ninx:1/2'
      );
    } finally {
      await stack.close();
    }
  });
});
