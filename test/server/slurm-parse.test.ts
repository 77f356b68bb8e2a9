import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, it } from 'node:test';
import { SubmitError, type AdapterJob } from '../../server/jobs/adapter.js';
import { CommandTimeoutError } from '../../server/jobs/command.js';
import { parseSites } from '../../server/jobs/sites.js';
import { SlurmAdapter } from '../../server/jobs/slurm.js';
import {
  isHopelessPendingReason,
  parseSacct,
  parseSbatchParsable,
  parseScontrolJobs,
  parseSlurmVersion,
  parseSqueue,
  SACCT_FIELDS,
  slurmStateToModel,
  squeueSupportsMe,
  summariseSqueue
} from '../../server/jobs/slurm-parse.js';
import { classifySubmitFailure } from '../../server/jobs/submit-errors.js';
import { formatWalltime } from '../../server/jobs/walltime.js';
import { tempDir } from './helpers.js';
import { fixture, RecordedRunner } from './recorded-runner.js';

// Slurm output parsing on outputs recorded from the real Slurm 22.05 of scripts/slurm-up.sh
// (test/fixtures/slurm/README.md); the adapter itself runs against real Slurm in test/slurm/.

describe('Slurm output parsing', () => {
  const rows = parseSqueue(fixture('slurm', 'squeue-22.05.txt'));

  it('splits squeue lines with the name last, so names containing | survive', () => {
    assert.equal(rows.length, 40);
    assert.equal(rows.find(r => r.id === '1')?.name, 'a|b');
    assert.equal(rows.find(r => r.id === '36')?.name, 'name|with|pipes');
    const task = rows.find(r => r.id === '2_3');
    assert.deepEqual(
      [task?.rawId, task?.arrayJobId, task?.arrayTaskId, task?.state],
      ['2', '2', 3, 'COMPLETED']
    );
    const held = rows.find(r => r.id === '38_1');
    assert.equal(held?.startTime, undefined);
    assert.equal(held?.reason, 'JobHeldUser');
    assert.throws(() => parseSqueue('1|2|3\n'), /unexpected squeue line/);
  });

  it('summarises plain jobs by id and arrays by their master id', () => {
    const byId = summariseSqueue(rows);
    const view = (id: string) => {
      const s = byId.get(id);
      return s && [s.state, s.nativeState, s.reason ?? '', s.taskIds.length];
    };
    assert.deepEqual(view('2'), ['COMPLETED', 'COMPLETED', '', 4]);
    assert.deepEqual(view('10'), ['FAILED', 'FAILED', 'NonZeroExitCode', 4]);
    assert.deepEqual(view('20'), ['FAILED', 'FAILED', 'NonZeroExitCode', 4], 'one failed task');
    assert.deepEqual(view('38'), ['QUEUED', 'PENDING', 'JobHeldUser', 3]);
    assert.deepEqual(view('37'), ['ACTIVE', 'RUNNING', '', 1]);
    assert.deepEqual(view('18'), ['FAILED', 'TIMEOUT', 'TimeLimit', 1]);
    assert.deepEqual(view('3'), ['CANCELED', 'CANCELLED', 'DependencyNeverSatisfied', 1]);
    assert.equal(byId.get('8')?.scriptDir, '/data/jobs/bad');
    assert.equal(byId.get('11'), undefined, 'a task’s raw id is not a tracked id');
  });

  it('maps every Slurm state word, including sacct’s "CANCELLED by <uid>"', () => {
    assert.equal(slurmStateToModel('CANCELLED by 0'), 'CANCELED');
    assert.equal(slurmStateToModel('COMPLETING'), 'ACTIVE');
    assert.equal(slurmStateToModel('OUT_OF_MEMORY'), 'FAILED');
    assert.equal(slurmStateToModel('REQUEUE_HOLD'), 'QUEUED');
    assert.throws(() => slurmStateToModel('DANCING'), /unknown Slurm job state/);
    assert.ok(isHopelessPendingReason('DependencyNeverSatisfied'));
    assert.ok(isHopelessPendingReason('ReqNodeNotAvail, UnavailableNodes:vm'));
    assert.ok(!isHopelessPendingReason('Priority'));
  });

  it('reads sbatch --parsable, versions, scontrol and sacct', () => {
    assert.equal(parseSbatchParsable('42\n'), '42');
    assert.equal(parseSbatchParsable('42;sandbox\n'), '42');
    assert.throws(() => parseSbatchParsable('Submitted batch job 42'), /unexpected sbatch output/);
    const version = parseSlurmVersion(fixture('slurm', 'sinfo-version-22.05.txt'));
    assert.deepEqual(version, { major: 22, minor: 5, patch: 8 });
    assert.ok(squeueSupportsMe(version));
    assert.ok(squeueSupportsMe(parseSlurmVersion('slurm 23.11.4')));
    assert.ok(!squeueSupportsMe(parseSlurmVersion('slurm 20.02.7')));

    const [failed] = parseScontrolJobs(fixture('slurm', 'scontrol-show-job-failed-22.05.txt'));
    assert.equal(failed.JobState, 'FAILED');
    assert.equal(failed.ExitCode, '3:0');
    assert.equal(failed.JobName, 'a|b');
    assert.equal(failed.Command, '/tmp/sl/j.sh 1 3');
    const tasks = parseScontrolJobs(fixture('slurm', 'scontrol-show-job-array-22.05.txt'));
    assert.deepEqual(tasks.map(t => t.ArrayTaskId).sort(), ['0', '1', '2', '3']);

    const sacct = parseSacct(fixture('slurm', 'sacct-reference.txt'));
    assert.deepEqual(sacct[0].exitCode, { exit: 3, signal: 0 });
    assert.equal(slurmStateToModel(sacct[1].state), 'CANCELED');
    assert.equal(sacct[4].id, '28_2');
  });

  it('classifies submit refusals (the three messages reproduced on real Slurm, and the usual ones)', () => {
    assert.equal(classifySubmitFailure('slurm', 'Invalid partition name specified'), 'target');
    assert.equal(classifySubmitFailure('slurm', 'Invalid qos specification'), 'target');
    assert.equal(
      classifySubmitFailure('slurm', 'Invalid account or account/partition combination specified'),
      'target'
    );
    assert.equal(
      classifySubmitFailure('slurm', 'Unable to contact slurm controller (connect failure)'),
      'transient'
    );
    assert.equal(
      classifySubmitFailure(
        'slurm',
        "Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)"
      ),
      'capacity'
    );
    assert.equal(classifySubmitFailure('slurm', 'Unable to open file /x/job.sh'), 'spec');
    assert.equal(classifySubmitFailure('slurm', 'Something new'), 'target');
  });

  it('formats walltimes as HH:MM:SS', () => {
    assert.equal(formatWalltime(3600), '01:00:00');
    assert.equal(formatWalltime(59.2), '00:01:00');
    assert.equal(formatWalltime(90061), '25:01:01');
  });
});

describe('Slurm adapter command lines (recorded answers)', () => {
  const site = parseSites({
    sites: [
      {
        name: 'perlmutter',
        scheduler: 'slurm',
        defaultAccount: 'm1234',
        defaultQueue: 'realtime',
        queues: [{ name: 'realtime', kind: 'qos', partition: 'regular' }]
      }
    ]
  }).sites[0];

  it('builds sbatch options: QOS with its partition, account, time, resources, array, afterok', () => {
    const adapter = new SlurmAdapter({ site, runner: new RecordedRunner() });
    const args = adapter.sbatchArguments({
      uuid: 'u',
      attempt: 1,
      tag: 'u.1',
      jobDir: '/data/jobs/u',
      afterOkNative: ['11', '12'],
      spec: {
        command: ['true'],
        resources: { nodes: 2, processes: 8, coresPerProcess: 2, gpus: 1, memoryMb: 4096 },
        attributes: { durationSeconds: 1800, customOptions: ['-C', 'cpu'] },
        arrayTasks: 4
      }
    });
    assert.deepEqual(args, [
      '--parsable',
      '-J',
      'nexus-u.1',
      '--comment=u.1',
      '-q',
      'realtime',
      '-p',
      'regular',
      '-A',
      'm1234',
      '-t',
      '00:30:00',
      '-N',
      '2',
      '-n',
      '8',
      '-c',
      '2',
      '--gpus=1',
      '--mem=4096M',
      '--array=0-3',
      '--dependency=afterok:11:12',
      '--kill-on-invalid-dep=yes',
      '-o',
      '/data/jobs/u/slurm-%A_%a.out',
      '-e',
      '/data/jobs/u/slurm-%A_%a.err',
      '--chdir=/data/jobs/u',
      '-C',
      'cpu'
    ]);
  });

  it('uses squeue -u on Slurm older than 20.11, probing the version once', async () => {
    const runner = new RecordedRunner()
      .on('sinfo', { stdout: 'slurm 20.02.7\n' })
      .on('sacct', { stderr: 'Slurm accounting storage is disabled\n', code: 1 })
      .on('squeue', { stdout: '' })
      .on('squeue', { stdout: '' });
    const adapter = new SlurmAdapter({ site, runner });
    assert.deepEqual(await adapter.poll(['5']), [{ nativeId: '5', missing: true }]);
    await adapter.poll(['5']);
    const squeues = runner.calls.filter(c => c.command === 'squeue');
    assert.equal(squeues.length, 2);
    assert.deepEqual(squeues[0].args.slice(4, 6), ['-u', os.userInfo().username]);
    assert.equal(runner.calls.filter(c => c.command === 'sinfo').length, 1);
    assert.equal(adapter.capabilities().history, false);
  });

  it('turns a refused sbatch into a classified SubmitError with Slurm’s reason', async () => {
    const runner = new RecordedRunner().on('sbatch', {
      stderr: 'sbatch: error: Batch job submission failed: Invalid qos specification\n',
      code: 1
    });
    const adapter = new SlurmAdapter({ site, runner });
    await assert.rejects(
      adapter.submit({
        uuid: 'u',
        attempt: 1,
        tag: 'u.1',
        jobDir: tempDir('nexus-sbatch-'),
        spec: { command: ['true'] }
      }),
      (err: unknown) => {
        assert.ok(err instanceof SubmitError);
        assert.equal(err.errorClass, 'target');
        assert.equal(err.message, 'Invalid qos specification');
        return true;
      }
    );
  });

  it('never queues a job twice: after a timed-out sbatch, a retry first asks squeue for the tag', async () => {
    const squeueRow = (id: string, name: string) =>
      `${id}|${id}|${id}|N/A|PENDING|Priority|debug|(null)|2026-11-24T20:00:00|N/A|N/A|/data/jobs/u/job.sh|${name}\n`;
    const runner = new RecordedRunner()
      .on('sbatch', { error: new CommandTimeoutError('sbatch', 60_000) })
      .on('sinfo', { stdout: 'slurm 22.05.8\n' })
      .on('sacct', { stderr: 'Slurm accounting storage is disabled\n', code: 1 })
      .on('squeue', { stdout: squeueRow('41', 'someone-else') + squeueRow('42', 'nexus-u.1') });
    const adapter = new SlurmAdapter({ site, runner });
    const job: AdapterJob = {
      uuid: 'u',
      attempt: 1,
      tag: 'u.1',
      jobDir: tempDir('nexus-sbatch-'),
      spec: { command: ['true'] }
    };
    await assert.rejects(adapter.submit(job), (err: unknown) => {
      assert.ok(err instanceof SubmitError);
      assert.equal(err.errorClass, 'transient');
      return true;
    });
    const retried = await adapter.submit(job);
    assert.equal(retried.nativeId, '42');
    assert.equal(runner.calls.filter(c => c.command === 'sbatch').length, 1, 'no second sbatch');

    // not found: the retry submits
    runner
      .on('sbatch', { error: new CommandTimeoutError('sbatch', 60_000) })
      .on('squeue', { stdout: '' })
      .on('sbatch', { stdout: '43\n' });
    const other = { ...job, tag: 'u.2' };
    await assert.rejects(adapter.submit(other));
    assert.equal((await adapter.submit(other)).nativeId, '43');
  });

  it('resolves a job squeue forgot through sacct when the site keeps accounting', async () => {
    const sacct = fixture('slurm', 'sacct-reference.txt');
    const rows = (prefix: string) =>
      sacct
        .split('\n')
        .filter(line => line.startsWith(prefix))
        .join('\n');
    const runner = new RecordedRunner()
      .on('sinfo', { stdout: 'slurm 23.11.4\n' })
      .on('sacct', { stdout: '' }) // the probe: accounting answers
      .on('sacct', { stdout: rows('28_') })
      // an id reused after a controller reset: the newest submission wins
      .on('sacct', {
        stdout: `2|2|COMPLETED|0:0|2026-11-20T08:00:00|x|y\n${rows('2|')}`
      });
    const adapter = new SlurmAdapter({ site, runner });
    const dir = tempDir('nexus-sacct-');
    const array = await adapter.resolveMissing('28', dir);
    assert.ok(!array.missing);
    assert.deepEqual(
      [array.state, array.exitCode, array.message],
      ['FAILED', 1, 'task 2: non-zero exit status']
    );
    const reused = await adapter.resolveMissing('2', dir);
    assert.ok(!reused.missing);
    assert.deepEqual([reused.state, reused.exitCode], ['FAILED', 3]);
    const query = runner.calls.filter(c => c.command === 'sacct')[1].args;
    assert.deepEqual(query.slice(0, 8), ['-X', '-P', '-n', '-D', '-o', SACCT_FIELDS, '-j', '28']);
    assert.equal(query[8], '-S');
    assert.ok(adapter.capabilities().history);
  });
});
