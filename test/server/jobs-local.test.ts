import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { JobRefusedError } from '../../server/jobs/manager.js';
import { startedMarkerPath } from '../../server/jobs/script.js';
import {
  isFinal,
  startJobStack,
  tempDir,
  waitForJob,
  waitForState,
  type JobStack
} from './jobs-helpers.js';

// The scheduler scenarios on the local executor: real processes, a real SQLite file.

const read = (file: string | undefined): string => fs.readFileSync(file!, 'utf8');

function pidOf(stack: JobStack, id: string): number {
  const job = stack.store.get(id)!;
  return Number(read(path.join(job.jobDir, `${job.nativeId}.pid`)).split(' ')[0]);
}

/** Live (non-zombie) processes of a process group, read from /proc. */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of fs.readdirSync('/proc').filter(e => /^\d+$/.test(e))) {
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') {
        members.push(Number(entry));
      }
    } catch {
      // gone meanwhile
    }
  }
  return members;
}

describe('local executor through the job manager', () => {
  let stack: JobStack;
  before(async () => {
    stack = await startJobStack({
      sites: [
        {
          name: 'local',
          scheduler: 'local',
          pollIntervalSeconds: 0.2,
          concurrency: 2,
          setup: ['export FROM_SETUP="site setup ran"'],
          queues: [
            { name: 'short', kind: 'queue', maxDurationSeconds: 60, accessGranted: true },
            { name: 'demand', kind: 'queue', maxQueued: 2, maxDurationSeconds: 3600 },
            { name: 'realtime', kind: 'qos', accessGranted: false }
          ]
        },
        { name: 'one', scheduler: 'local', pollIntervalSeconds: 0.2, concurrency: 1 }
      ]
    });
  });
  after(() => stack.close());

  it('runs a job that exits 0 to COMPLETED through NEW and QUEUED, stdout and stderr readable', async () => {
    const events: string[] = [];
    const { manager } = stack;
    const job = manager.submit(
      {
        command: ['bash', '-c', 'echo "out $GREETING"; echo err >&2'],
        environment: { GREETING: "it's" }
      },
      'local'
    );
    const listener = (view: { id: string; status: { state: string } }) => {
      if (view.id === job.id) {
        events.push(view.status.state);
      }
    };
    manager.on('job', listener);
    const done = await waitForJob(manager, job.id, isFinal);
    manager.off('job', listener);
    assert.equal(done.status.state, 'COMPLETED');
    assert.equal(done.status.exitCode, 0);
    assert.deepEqual(
      done.history.map(s => s.state).filter(s => s !== 'ACTIVE'),
      ['NEW', 'QUEUED', 'COMPLETED']
    );
    assert.ok(events.includes('COMPLETED'));
    assert.match(read(manager.logFile(job.id, 'stdout')), /^out it's\n/);
    assert.equal(read(manager.logFile(job.id, 'stderr')), 'err\n');
    // persisted: the store has the same final state
    assert.equal(stack.store.get(job.id)!.status.state, 'COMPLETED');
  });

  it("runs the site's setup lines before the payload, without leaking the server token", async () => {
    process.env.NEXUS_SERVER_TOKEN = 'secret-of-the-server';
    try {
      const job = stack.manager.submit(
        { command: ['bash', '-c', 'echo "$FROM_SETUP"; echo "token=${NEXUS_SERVER_TOKEN:-none}"'] },
        'local'
      );
      assert.equal((await waitForJob(stack.manager, job.id, isFinal)).status.state, 'COMPLETED');
      assert.match(read(stack.manager.logFile(job.id, 'stdout')), /^site setup ran\ntoken=none\n/);
    } finally {
      delete process.env.NEXUS_SERVER_TOKEN;
    }
  });

  it('reports exit 3 as FAILED with exit code 3', async () => {
    const job = stack.manager.submit({ command: ['bash', '-c', 'exit 3'] }, 'local');
    const done = await waitForJob(stack.manager, job.id, isFinal);
    assert.equal(done.status.state, 'FAILED');
    assert.equal(done.status.exitCode, 3);
  });

  it('cancels a job while it is pending (concurrency limit full); it never starts', async () => {
    const { manager } = stack;
    const blocker = manager.submit({ command: ['sleep', '30'] }, 'one');
    await waitForState(manager, blocker.id, 'ACTIVE');
    const pending = manager.submit({ command: ['touch', 'ran'] }, 'one');
    const queued = await waitForJob(manager, pending.id, j => j.status.nativeState === 'PENDING');
    assert.match(queued.status.message ?? '', /free slot/);
    await manager.cancel(pending.id);
    const done = await waitForJob(manager, pending.id, isFinal);
    assert.equal(done.status.state, 'CANCELED');
    const record = stack.store.get(pending.id)!;
    assert.equal(fs.existsSync(startedMarkerPath(record.jobDir, record.nativeId!)), false);
    await manager.cancel(blocker.id);
    await waitForState(manager, blocker.id, 'CANCELED');
  });

  it('cancels a running job: its whole process group is gone', async () => {
    const { manager } = stack;
    const job = manager.submit({ command: ['bash', '-c', 'sleep 60 & sleep 60; wait'] }, 'local');
    await waitForState(manager, job.id, 'ACTIVE');
    const pid = pidOf(stack, job.id);
    await waitForJob(manager, job.id, () => groupMembers(pid).length >= 3);
    await manager.cancel(job.id);
    const done = await waitForJob(manager, job.id, isFinal);
    assert.equal(done.status.state, 'CANCELED');
    assert.deepEqual(groupMembers(pid), []);
  });

  it('fails a job that exceeds its time limit', async () => {
    const job = stack.manager.submit(
      { command: ['sleep', '30'], attributes: { queue: 'short', durationSeconds: 1 } },
      'local'
    );
    const done = await waitForJob(stack.manager, job.id, isFinal);
    assert.equal(done.status.state, 'FAILED');
    assert.equal(done.status.nativeState, 'TIMEOUT');
    assert.match(done.status.message ?? '', /time limit of 1 s exceeded/);
    const started = Date.parse(done.history.find(s => s.state === 'QUEUED')!.time);
    assert.ok(Date.parse(done.status.time) - started < 10_000);
  });

  it('runs a 4-task array, each task with its own index and log', async () => {
    const { manager } = stack;
    const job = manager.submit(
      { command: ['bash', '-c', 'echo "task $NEXUS_TASK_INDEX"'], arrayTasks: 4 },
      'local'
    );
    const done = await waitForJob(manager, job.id, isFinal);
    assert.equal(done.status.state, 'COMPLETED');
    for (let i = 0; i < 4; i++) {
      assert.match(read(manager.logFile(job.id, 'stdout', i)), new RegExp(`^task ${i}\n`));
    }
  });

  it('fails an array when one task fails, naming the task', async () => {
    const job = stack.manager.submit(
      { command: ['bash', '-c', '[ "$NEXUS_TASK_INDEX" != 2 ] || exit 5'], arrayTasks: 4 },
      'local'
    );
    const done = await waitForJob(stack.manager, job.id, isFinal);
    assert.equal(done.status.state, 'FAILED');
    assert.equal(done.status.exitCode, 5);
    assert.match(done.status.message ?? '', /task 2/);
  });

  it('runs an afterOk chain in order, and never runs a job whose dependency failed', async () => {
    const { manager } = stack;
    const work = tempDir('nexus-chain-');
    const first = manager.submit(
      { command: ['bash', '-c', 'sleep 0.5; echo one > step1'], directory: work },
      'local'
    );
    const second = manager.submit(
      { command: ['bash', '-c', 'cat step1 > step2'], directory: work, afterOk: [first.id] },
      'local'
    );
    const third = manager.submit(
      { command: ['bash', '-c', 'cat step2 > step3'], directory: work, afterOk: [second.id] },
      'local'
    );
    const done = await waitForJob(manager, third.id, isFinal);
    assert.equal(done.status.state, 'COMPLETED');
    assert.equal(read(path.join(work, 'step3')), 'one\n');

    const failing = manager.submit({ command: ['bash', '-c', 'sleep 0.3; exit 1'] }, 'local');
    const never = manager.submit(
      { command: ['touch', path.join(work, 'never')], afterOk: [failing.id] },
      'local'
    );
    const ended = await waitForJob(manager, never.id, isFinal);
    assert.equal(ended.status.state, 'FAILED');
    assert.match(ended.status.message ?? '', /^dependency .* ended FAILED$/);
    assert.equal(fs.existsSync(path.join(work, 'never')), false);
  });

  it('refuses before submission, with the reason: time limit, no access, queue full', async () => {
    const { manager } = stack;
    const before = manager.list().length;
    assert.throws(
      () =>
        manager.submit(
          { command: ['true'], attributes: { queue: 'short', durationSeconds: 7200 } },
          'local'
        ),
      (err: Error) =>
        err instanceof JobRefusedError &&
        /duration 7200 s exceeds the time limit of queue short of site local \(60 s\)/.test(
          err.message
        )
    );
    assert.throws(
      () => manager.submit({ command: ['true'], attributes: { queue: 'realtime' } }, 'local'),
      /no access to queue realtime of site local: it is by request only/
    );
    const a = manager.submit(
      { command: ['sleep', '5'], attributes: { queue: 'demand', durationSeconds: 60 } },
      'local'
    );
    const b = manager.submit(
      { command: ['sleep', '5'], attributes: { queue: 'demand', durationSeconds: 60 } },
      'local'
    );
    assert.throws(
      () =>
        manager.submit(
          { command: ['true'], attributes: { queue: 'demand', durationSeconds: 60 } },
          'local'
        ),
      /queue demand of site local allows at most 2 queued or running jobs; 2 already are/
    );
    assert.throws(() => manager.submit({ command: ['true'] }, 'nowhere'), /unknown site nowhere/);
    assert.equal(manager.list().length, before + 2);
    await manager.cancel(a.id);
    await manager.cancel(b.id);
    await waitForJob(manager, b.id, isFinal);
  });

  it('retries a finished job as a new attempt, keeping the earlier one', async () => {
    const { manager } = stack;
    const marker = path.join(tempDir('nexus-retry-'), 'count');
    const job = manager.submit(
      { command: ['bash', '-c', `echo x >> ${marker}; [ $(wc -l < ${marker}) -ge 2 ]`] },
      'local'
    );
    assert.equal((await waitForJob(manager, job.id, isFinal)).status.state, 'FAILED');
    manager.retryJob(job.id);
    const done = await waitForJob(manager, job.id, isFinal);
    assert.equal(done.status.state, 'COMPLETED');
    assert.equal(done.attempts, 2);
    assert.equal(done.previousAttempts.length, 1);
    assert.equal(done.previousAttempts[0].state, 'FAILED');
    assert.equal(done.previousAttempts[0].site, 'local');
    assert.notEqual(done.previousAttempts[0].nativeId, done.nativeId);
  });

  it('redirects a pending job to another site: cancel confirmed, resubmitted, hop recorded', async () => {
    const { manager } = stack;
    const blocker = manager.submit({ command: ['sleep', '30'] }, 'one');
    await waitForState(manager, blocker.id, 'ACTIVE');
    const job = manager.submit({ command: ['bash', '-c', 'echo moved'] }, 'one');
    await waitForState(manager, job.id, 'QUEUED');
    await manager.redirect(job.id, 'local');
    const done = await waitForJob(manager, job.id, isFinal);
    assert.equal(done.status.state, 'COMPLETED');
    assert.equal(done.site, 'local');
    assert.equal(done.previousAttempts.length, 1);
    assert.equal(done.previousAttempts[0].site, 'one');
    assert.equal(done.previousAttempts[0].state, 'CANCELED');
    assert.equal(read(manager.logFile(job.id, 'stdout')).split('\n')[0], 'moved');
    await manager.cancel(blocker.id);
    await waitForState(manager, blocker.id, 'CANCELED');
  });
});

describe('restart recovery (in process)', () => {
  const site = {
    name: 'local',
    scheduler: 'local' as const,
    pollIntervalSeconds: 0.2,
    concurrency: 2
  };

  it('re-attaches to a job that kept running while the manager was down', async () => {
    let stack = await startJobStack({ sites: [site] });
    const job = stack.manager.submit({ command: ['bash', '-c', 'sleep 1.5; exit 4'] }, 'local');
    await waitForState(stack.manager, job.id, 'ACTIVE');
    stack = await stack.restart();
    try {
      const done = await waitForJob(stack.manager, job.id, isFinal);
      assert.equal(done.status.state, 'FAILED');
      assert.equal(done.status.exitCode, 4);
    } finally {
      await stack.close();
    }
  });

  it('takes a dependency completed before a restart as met, and one that failed as never met', async () => {
    let stack = await startJobStack({ sites: [site] });
    const ok = stack.manager.submit({ command: ['true'] }, 'local');
    const bad = stack.manager.submit({ command: ['false'] }, 'local');
    await waitForJob(stack.manager, ok.id, isFinal);
    await waitForJob(stack.manager, bad.id, isFinal);
    stack = await stack.restart();
    try {
      const work = tempDir('nexus-deps-');
      const after = stack.manager.submit(
        { command: ['touch', 'ran'], directory: work, afterOk: [ok.id] },
        'local'
      );
      const never = stack.manager.submit(
        { command: ['touch', 'never'], directory: work, afterOk: [bad.id] },
        'local'
      );
      assert.equal((await waitForJob(stack.manager, after.id, isFinal)).status.state, 'COMPLETED');
      const failed = await waitForJob(stack.manager, never.id, isFinal);
      assert.equal(failed.status.state, 'FAILED');
      assert.equal(failed.status.message, `dependency ${bad.id} ended FAILED`);
      assert.deepEqual(fs.readdirSync(work), ['ran']);
    } finally {
      await stack.close();
    }
  });

  it('submits exactly once a job left `submitting`, whether or not the submission happened', async () => {
    let stack = await startJobStack({ sites: [site] });
    const work = tempDir('nexus-recover-work-');
    const runs = path.join(work, 'runs');
    const lost = stack.manager.submit({ command: ['bash', '-c', `echo lost >> ${runs}`] }, 'local');
    const found = stack.manager.submit(
      { command: ['bash', '-c', `echo found >> ${runs}`] },
      'local'
    );
    await waitForJob(stack.manager, lost.id, isFinal);
    await waitForJob(stack.manager, found.id, isFinal);
    fs.writeFileSync(runs, '');
    // Rewind both rows to a crash right after the intent was committed. For `lost` the crash
    // came before the adapter ran (no trace at the executor); for `found`, after it ran but
    // before its answer was recorded.
    for (const id of [lost.id, found.id]) {
      const record = stack.store.get(id)!;
      record.status = { state: 'NEW', time: new Date().toISOString() };
      record.submitting = true;
      record.nativeId = undefined;
      stack.store.save(record);
      if (id === lost.id) {
        fs.rmSync(record.jobDir, { recursive: true });
      }
    }
    stack = await stack.restart();
    try {
      const a = await waitForJob(stack.manager, lost.id, isFinal);
      const b = await waitForJob(stack.manager, found.id, isFinal);
      assert.equal(a.status.state, 'COMPLETED');
      assert.equal(b.status.state, 'COMPLETED');
      assert.ok(b.history.some(s => s.message === 'found after a restart'));
      // `found` was recognised by its tag and not run again; `lost` ran exactly once more.
      assert.deepEqual(read(runs).split('\n').filter(Boolean), ['lost']);
    } finally {
      await stack.close();
    }
  });
});
