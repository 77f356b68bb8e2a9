import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SubmitError } from '../../server/jobs/adapter.js';
import { logPath, readExitCode } from '../../server/jobs/script.js';
import { SlurmAdapter } from '../../server/jobs/slurm.js';
import {
  adapterJob,
  CountingRunner,
  isFinal,
  pollUntil,
  SANDBOX_SITE,
  SLURM_NOT_RUNNING,
  slurmRunning,
  tempJobRoot
} from './helpers.js';

// The Slurm adapter against a real slurmctld/slurmd (scripts/slurm-up.sh). Every scenario of the
// acceptance list runs side by side: the slowest, the time limit, takes 60–90 s because slurmctld
// checks limits periodically and Slurm's smallest limit is one minute.

if (!slurmRunning()) {
  it('Slurm is reachable', () => assert.fail(SLURM_NOT_RUNNING));
} else {
  describe('Slurm adapter on a real cluster', { concurrency: true }, () => {
    let root: string;
    let adapter: SlurmAdapter;
    const cleanup: string[] = [];

    before(() => {
      root = tempJobRoot();
      adapter = new SlurmAdapter({ site: SANDBOX_SITE });
    });
    after(async () => {
      for (const id of cleanup) {
        await adapter.cancel(id).catch(() => undefined);
      }
      fs.rmSync(root, { recursive: true, force: true });
    });

    it('completes with exit 0 and its stdout and stderr are readable', async () => {
      const job = adapterJob(root, {
        command: ['/bin/sh', '-c', 'echo "to stdout"; echo "to stderr" >&2']
      });
      const { nativeId, submitTime } = await adapter.submit(job);
      assert.match(nativeId, /^\d+$/);
      assert.ok(Math.abs(Date.parse(submitTime) - Date.now()) < 60_000);
      const status = await pollUntil(adapter, job, nativeId, isFinal);
      assert.deepEqual(
        {
          state: status.missing ? 'missing' : status.state,
          exit: !status.missing && status.exitCode
        },
        { state: 'COMPLETED', exit: 0 }
      );
      assert.match(
        fs.readFileSync(logPath(job.jobDir, nativeId, 'stdout'), 'utf8'),
        /^to stdout\n/
      );
      assert.equal(fs.readFileSync(logPath(job.jobDir, nativeId, 'stderr'), 'utf8'), 'to stderr\n');
    });

    it('fails with exit 3 → FAILED, exit code 3', async () => {
      const job = adapterJob(root, { command: ['/bin/sh', '-c', 'exit 3'] });
      const { nativeId } = await adapter.submit(job);
      const status = await pollUntil(adapter, job, nativeId, isFinal);
      assert.ok(!status.missing);
      assert.equal(status.state, 'FAILED');
      assert.equal(status.nativeState, 'FAILED');
      assert.equal(status.exitCode, 3);
    });

    it('is cancelled while pending (waiting on a dependency) and the cancel is confirmed by polling', async () => {
      const blocker = adapterJob(root, { command: ['sleep', '120'] });
      const first = await adapter.submit(blocker);
      cleanup.push(first.nativeId);
      const job = adapterJob(root, { command: ['true'] }, [first.nativeId]);
      const { nativeId } = await adapter.submit(job);
      const pending = await pollUntil(
        adapter,
        job,
        nativeId,
        s => !s.missing && s.state === 'QUEUED'
      );
      assert.ok(!pending.missing);
      assert.equal(pending.nativeState, 'PENDING');
      assert.equal(pending.message, 'Dependency');
      await adapter.cancel(nativeId);
      const status = await pollUntil(adapter, job, nativeId, isFinal);
      assert.ok(!status.missing);
      assert.equal(status.state, 'CANCELED');
      assert.equal(fs.existsSync(path.join(job.jobDir, `${nativeId}.started`)), false);
      await adapter.cancel(first.nativeId);
    });

    it('is cancelled while running', async () => {
      const job = adapterJob(root, { command: ['sleep', '120'] });
      const { nativeId } = await adapter.submit(job);
      cleanup.push(nativeId);
      await pollUntil(adapter, job, nativeId, s => !s.missing && s.state === 'ACTIVE');
      await adapter.cancel(nativeId);
      const status = await pollUntil(adapter, job, nativeId, isFinal);
      assert.ok(!status.missing);
      assert.equal(status.state, 'CANCELED');
      assert.equal(status.nativeState.split(' ')[0], 'CANCELLED');
      assert.equal(readExitCode(job.jobDir, nativeId), undefined, 'killed before writing .ec');
    });

    it('exceeds its time limit → FAILED with TIMEOUT', async () => {
      const job = adapterJob(root, {
        command: ['sleep', '600'],
        attributes: { durationSeconds: 60 }
      });
      const { nativeId } = await adapter.submit(job);
      cleanup.push(nativeId);
      const status = await pollUntil(adapter, job, nativeId, isFinal, 150_000);
      assert.ok(!status.missing);
      assert.equal(status.state, 'FAILED');
      assert.equal(status.nativeState, 'TIMEOUT');
      assert.equal(status.message, 'time limit exceeded');
    });

    it('runs a 4-task array: one native id, every task with its own index and output', async () => {
      const job = adapterJob(root, {
        command: ['/bin/sh', '-c', 'echo "task $NEXUS_TASK_INDEX"'],
        arrayTasks: 4
      });
      const { nativeId } = await adapter.submit(job);
      const status = await pollUntil(adapter, job, nativeId, isFinal);
      assert.ok(!status.missing);
      assert.equal(status.state, 'COMPLETED');
      for (let task = 0; task < 4; task++) {
        const out = fs.readFileSync(logPath(job.jobDir, `${nativeId}_${task}`, 'stdout'), 'utf8');
        assert.match(out, new RegExp(`^task ${task}\n`));
        assert.equal(readExitCode(job.jobDir, `${nativeId}_${task}`), 0);
      }
    });

    it('reports an array with one failing task as FAILED with that task’s exit code', async () => {
      const job = adapterJob(root, {
        command: ['/bin/sh', '-c', '[ "$NEXUS_TASK_INDEX" != 2 ] || exit 7'],
        arrayTasks: 4
      });
      const { nativeId } = await adapter.submit(job);
      const status = await pollUntil(adapter, job, nativeId, isFinal);
      assert.ok(!status.missing);
      assert.equal(status.state, 'FAILED');
      assert.equal(status.exitCode, 7);
      assert.match(status.message ?? '', /^task 2: /);
    });

    it('runs an afterok chain in order, and kills the dependant of a failed job', async () => {
      const marker = path.join(root, 'chain.txt');
      const first = adapterJob(root, {
        command: ['/bin/sh', '-c', `sleep 2; echo first >> ${marker}`]
      });
      const a = await adapter.submit(first);
      const second = adapterJob(root, { command: ['/bin/sh', '-c', `echo second >> ${marker}`] }, [
        a.nativeId
      ]);
      const b = await adapter.submit(second);
      const statusB = await pollUntil(adapter, second, b.nativeId, isFinal);
      assert.ok(!statusB.missing);
      assert.equal(statusB.state, 'COMPLETED');
      assert.equal(fs.readFileSync(marker, 'utf8'), 'first\nsecond\n');

      const failing = adapterJob(root, { command: ['/bin/sh', '-c', 'exit 1'] });
      const c = await adapter.submit(failing);
      const orphan = adapterJob(root, { command: ['true'] }, [c.nativeId]);
      const d = await adapter.submit(orphan);
      const statusD = await pollUntil(adapter, orphan, d.nativeId, isFinal);
      assert.ok(!statusD.missing);
      assert.equal(statusD.state, 'FAILED', 'not PENDING forever (--kill-on-invalid-dep)');
      assert.match(statusD.message ?? '', /dependency did not complete/);
    });

    it('refuses a job to demand over its time limit before submission, with the reason', async () => {
      const spec = { command: ['true'], attributes: { queue: 'demand', durationSeconds: 3600 } };
      const problems = adapter.validate(spec);
      assert.equal(problems.length, 1);
      assert.match(problems[0], /demand/);
      assert.match(problems[0], /3600 s exceeds the time limit .* \(600 s\)/);
      assert.deepEqual(
        adapter.validate({ ...spec, attributes: { queue: 'demand', durationSeconds: 300 } }),
        []
      );
      const noAccess = adapter.validate({ command: ['true'], attributes: { queue: 'realtime' } });
      assert.match(noAccess.join(), /no access to queue realtime/);
    });

    it('classifies Slurm’s own refusals: over the partition limit and unknown partition → target', async () => {
      const overLimit = adapterJob(root, {
        command: ['true'],
        attributes: { queue: 'demand', durationSeconds: 3600 }
      });
      await assert.rejects(adapter.submit(overLimit), (err: unknown) => {
        assert.ok(err instanceof SubmitError);
        assert.equal(err.errorClass, 'target');
        assert.match(err.message, /Requested time limit is invalid/);
        return true;
      });
      const unknown = adapterJob(root, { command: ['true'], attributes: { queue: 'nowhere' } });
      await assert.rejects(adapter.submit(unknown), (err: unknown) => {
        assert.ok(err instanceof SubmitError);
        assert.equal(err.errorClass, 'target');
        assert.match(err.message, /invalid partition/i);
        return true;
      });
    });

    it('finds a submission again by its tag (recovery after a crash before sbatch answered)', async () => {
      const job = adapterJob(root, { command: ['true'] });
      const { nativeId } = await adapter.submit(job);
      const found = await adapter.find(job);
      assert.equal(found?.nativeId, nativeId);
      assert.equal(await adapter.find(adapterJob(root, { command: ['true'] })), undefined);
    });

    it('resolves a job Slurm has forgotten from the wrapper’s exit-status file, never from absence', async () => {
      const dir = path.join(root, 'forgotten');
      fs.mkdirSync(dir);
      const unknownId = '987654321';
      assert.deepEqual(await adapter.resolveMissing(unknownId, dir), {
        nativeId: unknownId,
        missing: true
      });
      fs.writeFileSync(path.join(dir, `${unknownId}.started`), '');
      const killed = await adapter.resolveMissing(unknownId, dir);
      assert.ok(!killed.missing);
      assert.equal(killed.state, 'FAILED');
      fs.writeFileSync(path.join(dir, `${unknownId}.ec`), '0\n');
      const done = await adapter.resolveMissing(unknownId, dir);
      assert.ok(!done.missing);
      assert.equal(done.state, 'COMPLETED');
    });

    it('polls any number of jobs with one squeue call', async () => {
      const runner = new CountingRunner();
      const counted = new SlurmAdapter({ site: SANDBOX_SITE, runner });
      await counted.probe();
      const ids = await Promise.all(
        [0, 1, 2].map(
          async () => (await counted.submit(adapterJob(root, { command: ['true'] }))).nativeId
        )
      );
      runner.calls.length = 0;
      const statuses = await counted.poll([...ids, '987654321']);
      assert.deepEqual(runner.calls, ['squeue']);
      assert.equal(statuses.length, 4);
      assert.deepEqual(statuses[3], { nativeId: '987654321', missing: true });
      assert.ok(statuses.slice(0, 3).every(s => !s.missing));
    });
  });
}
