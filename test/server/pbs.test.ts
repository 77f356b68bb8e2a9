import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { AdapterJob, PolledStatus } from '../../server/jobs/adapter.js';
import { SubmitError } from '../../server/jobs/adapter.js';
import { CommandTimeoutError } from '../../server/jobs/command.js';
import { PbsAdapter } from '../../server/jobs/pbs.js';
import { parseQsubOutput } from '../../server/jobs/pbs-parse.js';
import { parseSites } from '../../server/jobs/sites.js';
import { tempDir } from './helpers.js';
import { fixture, RecordedRunner } from './recorded-runner.js';

// The PBS Pro adapter on recorded qsub / qstat -f -F json -x / qdel / qselect outputs
// (test/fixtures/pbs/README.md): PBS cannot run here.

const SERVER = 'polaris-pbs-01.hsn.cm.polaris.alcf.anl.gov';
const id = (seq: string) => `${seq}.${SERVER}`;

const POLARIS = parseSites({
  sites: [
    {
      name: 'polaris',
      scheduler: 'pbs',
      defaultQueue: 'debug',
      defaultAccount: 'XRAYSCI',
      setup: ['module load conda'],
      queues: [
        { name: 'debug', maxNodes: 2, maxDurationSeconds: 3600, filesystems: 'home:eagle' },
        {
          name: 'demand',
          minNodes: 1,
          maxNodes: 56,
          maxDurationSeconds: 3600,
          maxQueued: 100,
          accessGranted: false,
          filesystems: 'home:eagle'
        }
      ]
    }
  ]
}).sites[0];

function adapterWith(runner: RecordedRunner): PbsAdapter {
  return new PbsAdapter({ site: POLARIS, runner });
}

function job(spec: AdapterJob['spec'], afterOkNative?: string[]): AdapterJob {
  return {
    uuid: 'c0ffee00-0000-4000-8000-000000000001',
    attempt: 2,
    tag: 'c0ffee00-0000-4000-8000-000000000001.2',
    spec,
    jobDir: path.join(tempDir('nexus-pbs-'), 'job'),
    afterOkNative
  };
}

// What each recorded job must become: the conventions of the scheduler reference §1.2/§1.3.
const EXPECTED: Record<string, { state: string; exitCode?: number; message?: RegExp }> = {
  [id('1001')]: { state: 'QUEUED', message: /Not enough free nodes/ },
  [id('1002')]: { state: 'QUEUED', message: /held/ },
  [id('1003')]: { state: 'QUEUED' },
  [id('1004')]: { state: 'QUEUED' },
  [id('1005')]: { state: 'QUEUED' },
  [id('1006')]: { state: 'QUEUED' },
  [id('1007')]: { state: 'QUEUED', message: /moved/ },
  [id('1008')]: { state: 'ACTIVE', message: /Job run at/ },
  [id('1009')]: { state: 'ACTIVE' },
  [id('1010')]: { state: 'COMPLETED', exitCode: 0 },
  [id('1011')]: { state: 'FAILED', exitCode: 3 },
  [id('1012')]: { state: 'CANCELED', message: /SIGKILL/ },
  [id('1013')]: { state: 'FAILED', message: /signal 15 \(SIGTERM\)/ },
  [id('1014')]: { state: 'FAILED', message: /walltime exceeded/ },
  [id('1015')]: { state: 'FAILED', message: /JOB_EXEC_RETRY/ },
  [id('1016')]: { state: 'CANCELED', message: /before it ran/ },
  [`1017[].${SERVER}`]: { state: 'ACTIVE' },
  [`1018[].${SERVER}`]: { state: 'FAILED', exitCode: 1 },
  [`1018[0].${SERVER}`]: { state: 'COMPLETED', exitCode: 0 },
  [`1018[1].${SERVER}`]: { state: 'FAILED', exitCode: 2 }
};

describe('PBS Pro adapter on recorded outputs', () => {
  it('maps every job_state and the Exit_status conventions with ONE qstat call', async () => {
    const runner = new RecordedRunner().on('qstat', {
      stdout: fixture('pbs', 'qstat-f-F-json-x.json'),
      stderr: fixture('pbs', 'qstat-unknown.stderr'),
      code: 153
    });
    const ids = [...Object.keys(EXPECTED), id('1099')];
    const statuses = await adapterWith(runner).poll(ids);

    assert.equal(runner.calls.length, 1);
    assert.deepEqual(runner.calls[0], {
      command: 'qstat',
      args: ['-f', '-F', 'json', '-x', ...ids]
    });
    // array ids travel as single arguments, brackets and all (no shell, so no globbing)
    assert.ok(runner.calls[0].args.includes(`1017[].${SERVER}`));

    const states = new Set<string>();
    for (const status of statuses.slice(0, -1)) {
      assert.ok(!status.missing, `${status.nativeId} is listed`);
      const want = EXPECTED[status.nativeId];
      assert.equal(status.state, want.state, status.nativeId);
      assert.equal(status.exitCode, want.exitCode, status.nativeId);
      if (want.message) {
        assert.match(status.message ?? '', want.message, status.nativeId);
      }
      states.add(status.nativeState);
    }
    assert.deepEqual([...states].sort(), [...'BEFHMQRSTUWX'].sort(), 'every job_state covered');
    assert.deepEqual(statuses.at(-1), { nativeId: id('1099'), missing: true });
  });

  it('finds jobs whose id qstat spells with another server name', async () => {
    const runner = new RecordedRunner().on('qstat', {
      stdout: fixture('pbs', 'qstat-f-F-json-x.json')
    });
    const [status] = await adapterWith(runner).poll(['1011.polaris-pbs-01']);
    assert.ok(!status.missing);
    assert.equal(status.nativeId, '1011.polaris-pbs-01');
    assert.equal(status.exitCode, 3);
  });

  it('reports ids no server knows as missing, and fails the poll on other qstat errors', async () => {
    const none = new RecordedRunner().on('qstat', {
      stdout: fixture('pbs', 'qstat-none-known.json'),
      stderr: fixture('pbs', 'qstat-unknown.stderr'),
      code: 153
    });
    assert.deepEqual(await adapterWith(none).poll([id('1099')]), [
      { nativeId: id('1099'), missing: true }
    ]);
    const down = new RecordedRunner().on('qstat', {
      stderr: `qstat: cannot connect to server ${SERVER} (errno=15010)\n`,
      code: 1
    });
    await assert.rejects(adapterWith(down).poll([id('1001')]), /cannot connect to server/);
  });

  it('submits with qsub: uuid name, queue, account, select, walltime, filesystems, array, afterok, joined output', async () => {
    const runner = new RecordedRunner().on('qsub', { stdout: fixture('pbs', 'qsub-array.stdout') });
    const submitted = job(
      {
        command: ['python', 'reduce.py', 'scan 7.nxs'],
        resources: { nodes: 2, processes: 8, coresPerProcess: 4 },
        attributes: { queue: 'debug', durationSeconds: 1800 },
        arrayTasks: 4
      },
      [id('1010'), id('1011')]
    );
    const result = await adapterWith(runner).submit(submitted);
    assert.equal(result.nativeId, `1017[].${SERVER}`);
    const script = path.join(submitted.jobDir, 'job.sh');
    assert.deepEqual(runner.calls[0], {
      command: 'qsub',
      args: [
        '-N',
        `nexus-${submitted.tag}`,
        '-q',
        'debug',
        '-A',
        'XRAYSCI',
        '-l',
        'select=2:ncpus=16:mpiprocs=4',
        '-l',
        'walltime=00:30:00',
        '-l',
        'filesystems=home:eagle',
        '-J',
        '0-3',
        '-W',
        `depend=afterok:${id('1010')}:${id('1011')}`,
        '-j',
        'oe',
        '-o',
        `${submitted.jobDir}/pbs.out`,
        script
      ]
    });
    const text = fs.readFileSync(script, 'utf8');
    assert.match(text, /__nexus_id=\$\{PBS_JOBID\}/);
    assert.match(text, /NEXUS_TASK_INDEX=\$\{PBS_ARRAY_INDEX\}/);
    assert.match(text, /module load conda/);
    assert.match(text, /'python' 'reduce.py' 'scan 7.nxs'/);
  });

  it('classifies qsub refusals (reference §7)', async () => {
    const cases: [string, string][] = [
      ['qsub: Unknown queue', 'target'],
      ['qsub: Unauthorized Request', 'target'],
      ['qsub: Job exceeds queue resource limits', 'target'],
      [`qsub: cannot connect to server ${SERVER} (errno=111)`, 'transient'],
      ["qsub: would exceed queue demand's per-project limit of jobs in 'Q' state", 'capacity'],
      ['qsub: Illegal attribute or resource value Resource_List.select', 'spec'],
      ['qsub: something nobody has seen before', 'target']
    ];
    for (const [stderr, expected] of cases) {
      const runner = new RecordedRunner().on('qsub', { stderr: `${stderr}\n`, code: 1 });
      await assert.rejects(
        adapterWith(runner).submit(job({ command: ['true'] })),
        (err: unknown) => {
          assert.ok(err instanceof SubmitError);
          assert.equal(err.errorClass, expected, stderr);
          assert.equal(err.message, stderr.replace(/^qsub: /, ''));
          assert.equal(err.retryAfterMs !== undefined, expected === 'capacity');
          return true;
        }
      );
    }
    const slow = new RecordedRunner().on('qsub', {
      error: new CommandTimeoutError('qsub', 60_000)
    });
    await assert.rejects(adapterWith(slow).submit(job({ command: ['true'] })), (err: unknown) => {
      assert.ok(err instanceof SubmitError);
      assert.equal(err.errorClass, 'transient');
      return true;
    });
  });

  it('refuses a Polaris demand job before submission: no access, over 1 h, over 56 nodes', () => {
    const adapter = adapterWith(new RecordedRunner());
    const problems = adapter.validate({
      command: ['true'],
      resources: { nodes: 60 },
      attributes: { queue: 'demand', durationSeconds: 7200 }
    });
    assert.equal(problems.length, 3);
    assert.match(problems[0], /no access to queue demand/);
    assert.match(problems.join('\n'), /60 nodes exceed the limit .* \(56\)/);
    assert.match(problems.join('\n'), /7200 s exceeds the time limit .* \(3600 s\)/);
    assert.deepEqual(
      adapter.validate({ command: ['true'], attributes: { queue: 'debug', durationSeconds: 600 } }),
      []
    );
  });

  it('cancels with qdel; a job already gone is not an error, a refused qdel is', async () => {
    const runner = new RecordedRunner()
      .on('qdel', {})
      .on('qdel', { stderr: `qdel: Unknown Job Id ${id('1099')}\n`, code: 153 })
      .on('qdel', { stderr: `qdel: Unauthorized Request  ${id('1001')}\n`, code: 159 });
    const adapter = adapterWith(runner);
    await adapter.cancel(`1017[].${SERVER}`);
    assert.deepEqual(runner.calls[0], { command: 'qdel', args: [`1017[].${SERVER}`] });
    await adapter.cancel(id('1099'));
    await assert.rejects(adapter.cancel(id('1001')), /Unauthorized Request/);
  });

  it('finds a submission by its uuid name with qselect', async () => {
    const runner = new RecordedRunner()
      .on('qselect', { stdout: fixture('pbs', 'qselect.stdout') })
      .on('qstat', { stdout: fixture('pbs', 'qstat-f-F-json-x.json') })
      .on('qselect', { stdout: '' });
    const adapter = adapterWith(runner);
    const submitted = job({ command: ['true'] });
    const found = await adapter.find(submitted);
    assert.equal(found?.nativeId, id('1010'));
    assert.equal(found?.submitTime, new Date('Tue Nov 24 09:58:11 2026').toISOString());
    assert.ok(runner.calls[0].args.includes(`nexus-${submitted.tag}`));
    assert.equal(await adapter.find(submitted), undefined);
  });

  it('resolves a job without history from the wrapper’s exit-status files', async () => {
    const adapter = adapterWith(new RecordedRunner());
    const dir = tempDir('nexus-pbs-ec-');
    const resolve = (nativeId: string): Promise<PolledStatus> =>
      adapter.resolveMissing(nativeId, dir);
    assert.deepEqual(await resolve(id('1010')), { nativeId: id('1010'), missing: true });
    fs.writeFileSync(path.join(dir, `${id('1010')}.ec`), '0\n');
    const done = await resolve(id('1010'));
    assert.ok(!done.missing);
    assert.equal(done.state, 'COMPLETED');

    fs.writeFileSync(path.join(dir, `1018[0].${SERVER}.ec`), '0\n');
    fs.writeFileSync(path.join(dir, `1018[1].${SERVER}.ec`), '4\n');
    const array = await resolve(`1018[].${SERVER}`);
    assert.ok(!array.missing);
    assert.equal(array.state, 'FAILED');
    assert.equal(array.exitCode, 4);

    fs.writeFileSync(path.join(dir, `1020.${SERVER}.started`), '');
    const killed = await resolve(id('1020'));
    assert.ok(!killed.missing);
    assert.equal(killed.state, 'FAILED', 'started, no exit status: never a success');
  });

  it('parses qsub output and rejects anything else', () => {
    assert.equal(parseQsubOutput(fixture('pbs', 'qsub.stdout')), id('1001'));
    assert.throws(
      () => parseQsubOutput('qsub: waiting for job to start'),
      /unexpected qsub output/
    );
  });
});
