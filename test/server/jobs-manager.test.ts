import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AdapterJob, PolledStatus, SchedulerAdapter } from '../../server/jobs/adapter.js';
import { SubmitError } from '../../server/jobs/adapter.js';
import { LocalAdapter } from '../../server/jobs/local.js';
import type { SiteConfig } from '../../server/jobs/sites.js';
import { isFinal, startJobStack, waitForJob, waitForState } from './jobs-helpers.js';

// Job manager policies: submit-error classes, capacity waits, stuck jobs, degraded sites, lost
// jobs, site reconfiguration. The jobs are real local processes; only the scheduler's answers
// named in each test are replaced.

/** The real local adapter, with some of its answers replaced. */
function altered(
  site: SiteConfig,
  replace: (real: LocalAdapter) => Partial<SchedulerAdapter>
): SchedulerAdapter {
  const real = new LocalAdapter(site);
  return {
    kind: 'local',
    capabilities: () => real.capabilities(),
    validate: spec => real.validate(spec),
    submit: job => real.submit(job),
    find: job => real.find(job),
    attach: (job, nativeId) => real.attach(job, nativeId),
    poll: ids => real.poll(ids),
    resolveMissing: (nativeId, jobDir) => real.resolveMissing(nativeId, jobDir),
    cancel: nativeId => real.cancel(nativeId),
    close: () => real.close(),
    ...replace(real)
  };
}

/** Refuses the first submissions to site `flaky` with the given errors; records every call. */
function refusingAdapter(
  site: SiteConfig,
  refusals: SubmitError[],
  calls: AdapterJob[]
): SchedulerAdapter {
  return altered(site, real => ({
    submit: (job: AdapterJob) => {
      calls.push(job);
      const refusal = site.name === 'flaky' ? refusals.shift() : undefined;
      return refusal ? Promise.reject(refusal) : real.submit(job);
    }
  }));
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

describe('submit errors', () => {
  it('retries transient submit failures with backoff, then completes', async () => {
    const calls: AdapterJob[] = [];
    const refusals = [
      new SubmitError('transient', 'Socket timed out on send/recv operation'),
      new SubmitError('transient', 'Unable to contact slurm controller (connect failure)')
    ];
    const stack = await startJobStack({
      sites: [{ name: 'flaky', scheduler: 'local', pollIntervalSeconds: 0.2 }],
      adapterFactory: site => refusingAdapter(site, refusals, calls)
    });
    try {
      const job = stack.manager.submit({ command: ['true'] }, 'flaky');
      const done = await waitForJob(stack.manager, job.id, isFinal);
      assert.equal(done.status.state, 'COMPLETED');
      assert.equal(calls.length, 3);
      assert.ok(calls.every(c => c.tag === `${job.id}.1`));
    } finally {
      await stack.close();
    }
  });

  it('fails after the last transient retry, and fails a spec error at once', async () => {
    const calls: AdapterJob[] = [];
    const refusals = [
      ...Array.from({ length: 4 }, () => new SubmitError('transient', 'Connection refused')),
      new SubmitError('spec', 'script has no shebang')
    ];
    const stack = await startJobStack({
      sites: [{ name: 'flaky', scheduler: 'local', pollIntervalSeconds: 0.2 }],
      adapterFactory: site => refusingAdapter(site, refusals, calls)
    });
    try {
      const job = stack.manager.submit({ command: ['true'] }, 'flaky');
      const done = await waitForJob(stack.manager, job.id, isFinal);
      assert.equal(done.status.state, 'FAILED');
      assert.match(done.status.message ?? '', /transient.*Connection refused/);
      assert.equal(calls.length, 4);
      const spec = stack.manager.submit({ command: ['true'] }, 'flaky');
      const failed = await waitForJob(stack.manager, spec.id, isFinal);
      assert.match(failed.status.message ?? '', /spec.*no shebang/);
      assert.equal(calls.length, 5);
    } finally {
      await stack.close();
    }
  });

  it('redirects a job the target refuses to the site fallback', async () => {
    const calls: AdapterJob[] = [];
    const refusals = [new SubmitError('target', 'Invalid qos specification')];
    const stack = await startJobStack({
      sites: [
        { name: 'flaky', scheduler: 'local', pollIntervalSeconds: 0.2, fallback: 'backup' },
        { name: 'backup', scheduler: 'local', pollIntervalSeconds: 0.2 }
      ],
      adapterFactory: site => refusingAdapter(site, refusals, calls)
    });
    try {
      const job = stack.manager.submit({ command: ['true'] }, 'flaky');
      const done = await waitForJob(stack.manager, job.id, isFinal);
      assert.equal(done.status.state, 'COMPLETED');
      assert.equal(done.site, 'backup');
      assert.equal(done.previousAttempts[0].site, 'flaky');
      assert.deepEqual(
        calls.map(c => c.tag),
        [`${job.id}.1`, `${job.id}.2`]
      );
    } finally {
      await stack.close();
    }
  });
});

describe('manager policies', () => {
  it('waits on a capacity refusal without failing, and cancels the waiting job locally', async () => {
    const calls: AdapterJob[] = [];
    const refusals = [
      new SubmitError('capacity', 'Job violates accounting/QOS policy (job submit limit)', 60_000)
    ];
    const stack = await startJobStack({
      sites: [{ name: 'flaky', scheduler: 'local', pollIntervalSeconds: 0.2 }],
      adapterFactory: site => refusingAdapter(site, refusals, calls)
    });
    try {
      const job = stack.manager.submit({ command: ['true'] }, 'flaky');
      const waiting = await waitForJob(stack.manager, job.id, j =>
        /waiting for capacity/.test(j.status.message ?? '')
      );
      assert.equal(waiting.status.state, 'NEW');
      await stack.manager.cancel(job.id);
      const done = await waitForJob(stack.manager, job.id, isFinal);
      assert.equal(done.status.state, 'CANCELED');
      assert.equal(done.status.message, 'cancelled before submission');
      assert.equal(calls.length, 1);
    } finally {
      await stack.close();
    }
  });

  it('moves a job the scheduler reports stuck to the fallback site', async () => {
    const stack = await startJobStack({
      sites: [
        {
          name: 'stuck',
          scheduler: 'local',
          pollIntervalSeconds: 0.2,
          concurrency: 1,
          fallback: 'good'
        },
        { name: 'good', scheduler: 'local', pollIntervalSeconds: 0.2 }
      ],
      adapterFactory: site =>
        altered(site, real => ({
          poll: async ids =>
            (await real.poll(ids)).map((s): PolledStatus =>
              !s.missing && s.state === 'QUEUED' && site.name === 'stuck'
                ? { ...s, message: 'PartitionTimeLimit', stuck: true }
                : s
            )
        }))
    });
    try {
      const blocker = stack.manager.submit({ command: ['sleep', '30'] }, 'stuck');
      await waitForState(stack.manager, blocker.id, 'ACTIVE');
      const job = stack.manager.submit({ command: ['true'] }, 'stuck');
      const done = await waitForJob(stack.manager, job.id, isFinal);
      assert.equal(done.status.state, 'COMPLETED');
      assert.equal(done.site, 'good');
      assert.equal(done.previousAttempts[0].site, 'stuck');
      assert.equal(done.previousAttempts[0].state, 'CANCELED');
      assert.equal(stack.manager.get(blocker.id).status.state, 'ACTIVE');
      await stack.manager.cancel(blocker.id);
      await waitForState(stack.manager, blocker.id, 'CANCELED');
    } finally {
      await stack.close();
    }
  });

  it('marks a site degraded after failed polls and keeps its jobs in their last state', async () => {
    const stack = await startJobStack({
      sites: [{ name: 'down', scheduler: 'local', pollIntervalSeconds: 0.2 }],
      adapterFactory: site =>
        altered(site, () => ({
          poll: () => Promise.reject(new Error('Unable to contact slurm controller'))
        }))
    });
    try {
      const job = stack.manager.submit({ command: ['true'] }, 'down');
      await waitForState(stack.manager, job.id, 'QUEUED');
      await sleep(1000);
      assert.deepEqual(stack.manager.siteStatus(), [{ name: 'down', degraded: true }]);
      assert.equal(stack.manager.get(job.id).status.state, 'QUEUED');
    } finally {
      await stack.close();
    }
  });

  it('fails a job neither the scheduler nor its files know, after three polls, never as success', async () => {
    let polls = 0;
    const stack = await startJobStack({
      sites: [{ name: 'amnesiac', scheduler: 'local', pollIntervalSeconds: 0.2 }],
      adapterFactory: site =>
        altered(site, () => ({
          poll: async ids => {
            polls++;
            return ids.map(nativeId => ({ nativeId, missing: true as const }));
          },
          resolveMissing: async nativeId => ({ nativeId, missing: true as const })
        }))
    });
    try {
      const job = stack.manager.submit({ command: ['true'] }, 'amnesiac');
      const done = await waitForJob(stack.manager, job.id, isFinal);
      assert.equal(done.status.state, 'FAILED');
      assert.match(
        done.status.message ?? '',
        /no longer knows job local-\w+ and it left no exit status/
      );
      assert.ok(polls >= 3);
    } finally {
      await stack.close();
    }
  });

  it('keeps tracking a running job when its site is reconfigured', async () => {
    const stack = await startJobStack({
      sites: [{ name: 'local', scheduler: 'local', pollIntervalSeconds: 0.2, concurrency: 2 }]
    });
    try {
      const job = stack.manager.submit({ command: ['bash', '-c', 'sleep 1; exit 7'] }, 'local');
      await waitForState(stack.manager, job.id, 'ACTIVE');
      stack.sites.replace({
        sites: [{ name: 'local', scheduler: 'local', pollIntervalSeconds: 0.2, concurrency: 1 }]
      });
      const done = await waitForJob(stack.manager, job.id, isFinal);
      assert.equal(done.status.state, 'FAILED');
      assert.equal(done.status.exitCode, 7);
    } finally {
      await stack.close();
    }
  });
});
