import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JobView } from '../../src/protocol/jobs.js';
import { JobRefusedError } from '../../server/jobs/manager.js';
import {
  isFinal,
  startJobStack,
  startServerProcess,
  tempDir,
  waitForJob,
  waitForState,
  type JobStack
} from '../server/jobs-helpers.js';
import { SlurmAdapter } from '../../server/jobs/slurm.js';
import { CountingRunner, SANDBOX, SLURM_NOT_RUNNING, slurmRunning } from './helpers.js';

// The scenarios through the job manager on the real Slurm (scripts/slurm-up.sh), then the
// crash test: 100 submissions to Slurm, kill -9 of the server in the middle, restart, and every
// job accounted for and reconciled with what Slurm itself reports.

const read = (file: string | undefined): string => fs.readFileSync(file!, 'utf8');

/** Every job of this user that Slurm lists, by job name (ours: `nexus-<uuid>.<attempt>`). */
function slurmJobsByName(): Map<string, { id: string; state: string }[]> {
  const out = execFileSync('squeue', ['-h', '-t', 'all', '--me', '-o', '%i|%T|%j'], {
    encoding: 'utf8'
  });
  const byName = new Map<string, { id: string; state: string }[]>();
  for (const line of out.split('\n').filter(Boolean)) {
    const [id, state, ...name] = line.split('|');
    const key = name.join('|');
    byName.set(key, [...(byName.get(key) ?? []), { id, state }]);
  }
  return byName;
}

if (!slurmRunning()) {
  it('Slurm is reachable', () => assert.fail(SLURM_NOT_RUNNING));
} else {
  describe('Slurm through the job manager', { concurrency: true }, () => {
    let stack: JobStack;
    const runner = new CountingRunner();
    before(async () => {
      stack = await startJobStack({
        sites: [SANDBOX],
        adapterFactory: site => new SlurmAdapter({ site, runner })
      });
    });
    after(() => stack.close());

    it('runs a job to COMPLETED through NEW, QUEUED, ACTIVE; stdout and stderr readable', async () => {
      const { manager } = stack;
      const job = manager.submit(
        {
          command: ['bash', '-c', 'sleep 1; echo "out $GREETING"; echo err >&2'],
          environment: { GREETING: 'hi' }
        },
        'sandbox'
      );
      const done = await waitForJob(manager, job.id, isFinal);
      assert.equal(done.status.state, 'COMPLETED');
      assert.equal(done.status.exitCode, 0);
      assert.match(done.nativeId ?? '', /^\d+$/);
      assert.deepEqual(
        done.history.map(s => s.state),
        ['NEW', 'QUEUED', 'ACTIVE', 'COMPLETED']
      );
      assert.match(read(manager.logFile(job.id, 'stdout')), /^out hi\n/);
      assert.equal(read(manager.logFile(job.id, 'stderr')), 'err\n');
    });

    it('reports exit 3 as FAILED with exit code 3', async () => {
      const job = stack.manager.submit({ command: ['bash', '-c', 'exit 3'] }, 'sandbox');
      const done = await waitForJob(stack.manager, job.id, isFinal);
      assert.equal(done.status.state, 'FAILED');
      assert.equal(done.status.exitCode, 3);
    });

    it('cancels a pending job (held by a dependency) and a running one', async () => {
      const { manager } = stack;
      const running = manager.submit({ command: ['sleep', '120'] }, 'sandbox');
      await waitForState(manager, running.id, 'ACTIVE');
      const pending = manager.submit({ command: ['true'], afterOk: [running.id] }, 'sandbox');
      const queued = await waitForJob(manager, pending.id, j => j.status.nativeState === 'PENDING');
      assert.equal(queued.status.message, 'Dependency');
      await manager.cancel(pending.id);
      assert.equal((await waitForJob(manager, pending.id, isFinal)).status.state, 'CANCELED');
      await manager.cancel(running.id);
      const cancelled = await waitForJob(manager, running.id, isFinal);
      assert.equal(cancelled.status.state, 'CANCELED');
      assert.equal(cancelled.status.nativeState?.split(' ')[0], 'CANCELLED');
    });

    it('fails a job over its time limit (TIMEOUT)', async () => {
      const job = stack.manager.submit(
        { command: ['sleep', '600'], attributes: { durationSeconds: 60 } },
        'sandbox'
      );
      const done = await waitForJob(stack.manager, job.id, isFinal, 150_000);
      assert.equal(done.status.state, 'FAILED');
      assert.equal(done.status.nativeState, 'TIMEOUT');
      assert.equal(done.status.message, 'time limit exceeded');
    });

    it('runs a 4-task array, each task with its own index and log', async () => {
      const { manager } = stack;
      const job = manager.submit(
        { command: ['bash', '-c', 'echo "task $NEXUS_TASK_INDEX"'], arrayTasks: 4 },
        'sandbox'
      );
      const done = await waitForJob(manager, job.id, isFinal);
      assert.equal(done.status.state, 'COMPLETED');
      for (let i = 0; i < 4; i++) {
        assert.match(read(manager.logFile(job.id, 'stdout', i)), new RegExp(`^task ${i}\n`));
      }
    });

    it('runs an afterOk chain in order, and never runs a job whose dependency failed', async () => {
      const { manager } = stack;
      const work = tempDir('nexus-slurm-chain-');
      const first = manager.submit(
        { command: ['bash', '-c', 'sleep 1; echo one > step1'], directory: work },
        'sandbox'
      );
      const second = manager.submit(
        { command: ['bash', '-c', 'cat step1 > step2'], directory: work, afterOk: [first.id] },
        'sandbox'
      );
      const done = await waitForJob(manager, second.id, isFinal);
      assert.equal(done.status.state, 'COMPLETED');
      assert.equal(read(path.join(work, 'step2')), 'one\n');

      const failing = manager.submit({ command: ['bash', '-c', 'sleep 1; exit 1'] }, 'sandbox');
      const never = manager.submit(
        { command: ['touch', path.join(work, 'never')], afterOk: [failing.id] },
        'sandbox'
      );
      const ended = await waitForJob(manager, never.id, isFinal);
      assert.equal(ended.status.state, 'FAILED');
      assert.equal(fs.existsSync(path.join(work, 'never')), false);
    });

    it('refuses a demand job over its time limit before submission, with the reason', () => {
      // synchronous from here to the end: no other test's submission can start meanwhile
      const sbatchCalls = () => runner.calls.filter(c => c === 'sbatch').length;
      const before = sbatchCalls();
      assert.throws(
        () =>
          stack.manager.submit(
            { command: ['true'], attributes: { queue: 'demand', durationSeconds: 3600 } },
            'sandbox'
          ),
        (err: unknown) =>
          err instanceof JobRefusedError &&
          /3600 s exceeds the time limit of queue demand .*\(600 s\)/.test(err.message)
      );
      assert.throws(
        () =>
          stack.manager.submit({ command: ['true'], attributes: { queue: 'realtime' } }, 'sandbox'),
        /no access to queue realtime/
      );
      assert.equal(sbatchCalls(), before, 'nothing reached Slurm');
    });
  });

  describe('crash recovery on Slurm: kill -9 while 100 jobs are being submitted', () => {
    it('accounts for every job after a restart: none lost, none duplicated, states as Slurm says', async () => {
      const stateDir = tempDir('nexus-slurm-crash-');
      let server = await startServerProcess(stateDir);
      const put = await server.request('PUT', '/jobs/sites', { sites: [SANDBOX] });
      assert.equal(put.status, 200, await put.text());

      const acknowledged = new Set<string>();
      let answered = 0;
      await new Promise<void>(resolve => {
        const posts = Array.from({ length: 100 }, (_, i) =>
          server
            .request('POST', '/jobs', {
              site: 'sandbox',
              spec: { command: ['bash', '-c', `exit ${i % 3 === 0 ? 2 : 0}`] }
            })
            .then(async response => {
              const job = (await response.json()) as JobView;
              if (response.status === 201) {
                acknowledged.add(job.id);
              }
              if (++answered === 40) {
                server.child.kill('SIGKILL');
                resolve();
              }
            })
            .catch(() => undefined)
        );
        void Promise.all(posts).then(() => resolve());
      });
      await server.stop('SIGKILL');

      // What the crash left behind, straight from the database.
      const db = new Database(path.join(stateDir, 'state.sqlite'), { readonly: true });
      const atCrash = db.prepare('SELECT id, state, submitting FROM jobs').all() as {
        id: string;
        state: string;
        submitting: number;
      }[];
      db.close();
      const unfinishedAtCrash = atCrash.filter(
        r => !['COMPLETED', 'FAILED', 'CANCELED'].includes(r.state)
      ).length;
      const submittingAtCrash = atCrash.filter(r => r.submitting === 1).length;
      assert.ok(unfinishedAtCrash > 0, 'the crash should leave unfinished jobs');
      const namesAtCrash = slurmJobsByName();
      const inSlurmAtCrash = atCrash.filter(r => namesAtCrash.has(`nexus-${r.id}.1`)).length;

      server = await startServerProcess(stateDir);
      try {
        const deadline = Date.now() + 120_000;
        let jobs: JobView[];
        for (;;) {
          jobs = (await (await server.request('GET', '/jobs')).json()) as JobView[];
          if (jobs.every(j => ['COMPLETED', 'FAILED', 'CANCELED'].includes(j.status.state))) {
            break;
          }
          assert.ok(Date.now() < deadline, 'jobs still unfinished after the restart');
          await new Promise(resolve => setTimeout(resolve, 300));
        }
        assert.ok(acknowledged.size >= 40);
        assert.equal(jobs.length, atCrash.length, 'no job appeared or vanished');
        assert.equal(new Set(jobs.map(j => j.id)).size, jobs.length, 'no duplicated job');
        for (const id of acknowledged) {
          assert.ok(
            jobs.some(j => j.id === id),
            `acknowledged job ${id} lost`
          );
        }
        // Reconciled with Slurm: each job is exactly one Slurm job, with the state Slurm reports.
        const slurm = slurmJobsByName();
        for (const job of jobs) {
          const submissions = slurm.get(`nexus-${job.id}.${job.attempts}`) ?? [];
          assert.equal(submissions.length, 1, `${job.id} submitted ${submissions.length} times`);
          assert.equal(submissions[0].id, job.nativeId);
          const expected = { COMPLETED: 'COMPLETED', FAILED: 'FAILED' }[
            job.status.state as 'COMPLETED' | 'FAILED'
          ];
          assert.equal(submissions[0].state, expected, `${job.id}: ${job.status.message ?? ''}`);
          assert.equal(job.status.exitCode, submissions[0].state === 'FAILED' ? 2 : 0);
        }
        const ours = [...slurm.keys()].filter(name =>
          jobs.some(j => name.startsWith(`nexus-${j.id}.`))
        );
        assert.equal(ours.length, jobs.length, 'no Slurm job without a record');
        console.log(
          `at the crash: ${atCrash.length} recorded, ${unfinishedAtCrash} unfinished, ` +
            `${submittingAtCrash} not yet known to be submitted (${inSlurmAtCrash} of all already in Slurm), ` +
            `${acknowledged.size} acknowledged; all reconciled`
        );
      } finally {
        await server.stop();
      }
    });
  });
}
