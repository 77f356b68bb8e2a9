import { backOff } from 'exponential-backoff';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { JobFilter, JobSpec, JobState, JobStatus, JobView } from '../../src/protocol/jobs.js';
import { JOB_STATE_ORDER, isFinalState } from '../../src/protocol/jobs.js';
import type { AdapterJob, PolledStatus, SchedulerAdapter } from './adapter.js';
import { SubmitError } from './adapter.js';
import { createAdapter } from './adapters.js';
import type { LogStream } from './script.js';
import { logPath } from './script.js';
import type { SiteConfig, Sites } from './sites.js';
import { queueLimitProblem, queueOf } from './sites.js';
import type { JobRecord, JobStore } from './store.js';

// The job manager: the only writer of job state. It records every intent in the store before
// acting on it, drives the PSI/J state machine (states only move to a higher order), polls each
// site once per interval for all of its jobs, retries transient submit failures with exponential
// backoff and jitter, and moves jobs to another site on request or when the site refuses them.

/** Refused before submission: the reasons are meant for the user. */
export class JobRefusedError extends Error {}
/** The request does not fit the job's current state (e.g. retrying a running job). */
export class JobConflictError extends Error {}
export class JobNotFoundError extends Error {}

type ApplicableStatus = Extract<PolledStatus, { state: JobState }>;

export interface SubmitRetryOptions {
  /** submissions tried for transient failures before the job fails */
  attempts: number;
  firstDelayMs: number;
  maxDelayMs: number;
}

export interface ManagerOptions {
  store: JobStore;
  sites: Sites;
  /** where each job's attempts keep their scripts and logs: `<jobsDir>/<id>/<attempt>` */
  jobsDir: string;
  adapterFactory?: (site: SiteConfig) => SchedulerAdapter;
  submitRetry?: SubmitRetryOptions;
}

interface SiteRuntime {
  config: SiteConfig;
  adapter: SchedulerAdapter;
  timer?: NodeJS.Timeout;
  polling: boolean;
  consecutiveFailures: number;
  /** polls in a row in which the scheduler did not know a job (by job id) */
  missing: Map<string, number>;
}

/** After this many failed polls in a row a site is degraded: its jobs keep their last state. */
const DEGRADED_AFTER = 2;
/** Polls in which neither the scheduler nor the job's files know a job before it is lost. */
const LOST_AFTER = 3;

const now = (): string => new Date().toISOString();

export class JobManager extends EventEmitter {
  private readonly store: JobStore;
  private readonly sites: Sites;
  private readonly jobsDir: string;
  private readonly adapterFactory: (site: SiteConfig) => SchedulerAdapter;
  private readonly retry: SubmitRetryOptions;
  private readonly runtimes = new Map<string, SiteRuntime>();
  /** jobs whose submission runs in this process right now */
  private readonly inFlight = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  private readonly onSitesChange = () => this.background(this.reconfigure());

  constructor(options: ManagerOptions) {
    super();
    this.store = options.store;
    this.sites = options.sites;
    this.jobsDir = options.jobsDir;
    this.adapterFactory = options.adapterFactory ?? createAdapter;
    this.retry = options.submitRetry ?? { attempts: 5, firstDelayMs: 1000, maxDelayMs: 60_000 };
    this.sites.on('change', this.onSitesChange);
  }

  /** Reconciles every unfinished job with its scheduler, then starts polling. */
  async start(): Promise<void> {
    for (const site of this.sites.value.sites) {
      this.runtimeFor(site);
    }
    for (const job of this.store.unfinished()) {
      await this.recover(job);
    }
    for (const runtime of this.runtimes.values()) {
      this.schedulePoll(runtime);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sites.off('change', this.onSitesChange);
    for (const timer of this.timers) {
      clearTimeout(timer);
    }
    for (const runtime of this.runtimes.values()) {
      clearTimeout(runtime.timer);
      await runtime.adapter.close();
    }
    this.runtimes.clear();
  }

  submit(spec: JobSpec, siteName: string): JobView {
    const site = this.sites.get(siteName);
    if (!site) {
      throw new JobRefusedError(`unknown site ${siteName}`);
    }
    this.checkDependencies(spec, siteName);
    const problems = this.problems(spec, site);
    if (problems.length > 0) {
      throw new JobRefusedError(`refused by site ${siteName}: ${problems.join('; ')}`);
    }
    const id = randomUUID();
    const job: JobRecord = {
      id,
      site: siteName,
      spec,
      status: { state: 'NEW', time: now() },
      attempt: 1,
      submitting: true,
      cancelRequested: false,
      jobDir: this.jobDirOf(id, 1),
      created: now()
    };
    // The intent is committed before the adapter runs: a crash from here on is recovered.
    this.store.insert(job);
    this.emitJob(job);
    this.background(this.submitAttempt(id));
    return this.store.view(job);
  }

  get(id: string): JobView {
    return this.store.view(this.record(id));
  }

  list(filter?: JobFilter): JobView[] {
    return this.store.list(filter).map(job => this.store.view(job));
  }

  /** Requests a cancel; the final CANCELED comes from a poll that confirms it. */
  async cancel(id: string): Promise<JobView> {
    const job = this.record(id);
    if (isFinalState(job.status.state)) {
      throw new JobConflictError(`job ${id} is already ${job.status.state}`);
    }
    job.cancelRequested = true;
    job.redirectTo = undefined;
    this.store.save(job);
    await this.requestCancel(job);
    return this.get(id);
  }

  /** A new attempt of a finished job, on the same site or another one. */
  retryJob(id: string, siteName?: string): JobView {
    const job = this.record(id);
    if (!isFinalState(job.status.state)) {
      throw new JobConflictError(
        `job ${id} is ${job.status.state}; only finished jobs are retried`
      );
    }
    const target = siteName ?? job.site;
    this.checkTarget(job, target);
    this.moveTo(job, target, `retry (attempt ${job.attempt + 1})`);
    return this.get(id);
  }

  /**
   * Moves a job to another site: a finished job starts again there; an unfinished one is
   * cancelled here first, and resubmitted once a poll confirms the cancel.
   */
  async redirect(id: string, siteName: string): Promise<JobView> {
    const job = this.record(id);
    if (siteName === job.site) {
      throw new JobConflictError(`job ${id} is already at site ${siteName}`);
    }
    this.checkTarget(job, siteName);
    if (isFinalState(job.status.state)) {
      this.moveTo(job, siteName, `redirected from ${job.site}`);
      return this.get(id);
    }
    job.redirectTo = siteName;
    job.cancelRequested = true;
    this.store.save(job);
    await this.requestCancel(job);
    return this.get(id);
  }

  /** Path of a job's stdout or stderr (array tasks: `task`), or undefined before it is submitted. */
  logFile(id: string, stream: LogStream, task?: number): string | undefined {
    const job = this.record(id);
    if (!job.nativeId) {
      return undefined;
    }
    const nativeId = task === undefined ? job.nativeId : `${job.nativeId}_${task}`;
    return logPath(job.jobDir, nativeId, stream);
  }

  isFinal(id: string): boolean {
    return isFinalState(this.record(id).status.state);
  }

  siteStatus(): { name: string; degraded: boolean }[] {
    return [...this.runtimes.values()].map(r => ({
      name: r.config.name,
      degraded: r.consecutiveFailures >= DEGRADED_AFTER
    }));
  }

  // --- submission -------------------------------------------------------------------------

  private problems(spec: JobSpec, site: SiteConfig): string[] {
    const runtime = this.runtimeFor(site);
    const problems = runtime.adapter.validate(spec);
    if (queueOf(spec, site)?.maxQueued !== undefined) {
      const queued = this.store
        .unfinished()
        .filter(j => j.site === site.name && queueOf(j.spec, site) === queueOf(spec, site))
        .reduce((n, j) => n + (j.spec.arrayTasks ?? 1), 0);
      const problem = queueLimitProblem(spec, site, queued);
      if (problem) {
        problems.push(problem);
      }
    }
    return problems;
  }

  private checkDependencies(spec: JobSpec, siteName: string): void {
    for (const dep of spec.afterOk ?? []) {
      const other = this.store.get(dep);
      if (!other) {
        throw new JobRefusedError(`afterOk: unknown job ${dep}`);
      }
      if (other.site !== siteName) {
        throw new JobRefusedError(
          `afterOk: job ${dep} runs at site ${other.site}, not ${siteName}; dependencies work within one site`
        );
      }
    }
  }

  private checkTarget(job: JobRecord, siteName: string): void {
    const site = this.sites.get(siteName);
    if (!site) {
      throw new JobRefusedError(`unknown site ${siteName}`);
    }
    if (siteName !== job.site) {
      this.checkDependencies(job.spec, siteName);
    }
    const problems = this.problems(job.spec, site);
    if (problems.length > 0) {
      throw new JobRefusedError(`refused by site ${siteName}: ${problems.join('; ')}`);
    }
  }

  /** Starts a new attempt of the job at `siteName`, keeping a record of the attempt it leaves. */
  private moveTo(job: JobRecord, siteName: string, message: string): void {
    const previous = {
      attempt: job.attempt,
      site: job.site,
      nativeId: job.nativeId,
      submitTime: job.submitTime,
      state: job.status.state,
      message: job.status.message,
      time: now()
    };
    job.site = siteName;
    job.attempt += 1;
    job.jobDir = this.jobDirOf(job.id, job.attempt);
    job.nativeId = undefined;
    job.submitTime = undefined;
    job.submitting = true;
    job.cancelRequested = false;
    job.redirectTo = undefined;
    job.status = { state: 'NEW', time: now(), message };
    this.store.saveWithAttempt(job, previous);
    this.runtimes.get(previous.site)?.missing.delete(job.id);
    this.emitJob(job);
    // Deferred: a move can start inside the previous attempt's submission, still in flight.
    this.later(() => this.background(this.submitAttempt(job.id)), 0);
  }

  private adapterJob(job: JobRecord): AdapterJob {
    // Dependencies that already completed are met: the scheduler may have forgotten them (Slurm
    // purges finished jobs; the local executor forgets them on a restart).
    const afterOkNative = (job.spec.afterOk ?? [])
      .map(dep => this.store.get(dep))
      .filter(dep => dep?.nativeId !== undefined && dep.status.state !== 'COMPLETED')
      .map(dep => dep!.nativeId!);
    return {
      uuid: job.id,
      attempt: job.attempt,
      tag: `${job.id}.${job.attempt}`,
      spec: job.spec,
      jobDir: job.jobDir,
      afterOkNative
    };
  }

  /**
   * Submits the job's current attempt (its row says `submitting`). Transient failures are
   * retried with backoff; a capacity refusal waits and tries again; a refusal of the target
   * moves the job to the site's fallback; anything else fails the job.
   */
  private async submitAttempt(id: string): Promise<void> {
    if (this.inFlight.has(id) || this.closed) {
      return;
    }
    let job = this.record(id);
    if (!job.submitting || isFinalState(job.status.state)) {
      return;
    }
    if (!(await this.dependenciesSubmitted(job))) {
      return;
    }
    const runtime = this.runtimes.get(job.site);
    if (!runtime) {
      this.finish(job, 'FAILED', `site ${job.site} is no longer configured`);
      return;
    }
    const attempt = job.attempt;
    const adapterJob = this.adapterJob(job);
    this.inFlight.add(id);
    try {
      fs.mkdirSync(job.jobDir, { recursive: true });
      const result = await backOff(() => runtime.adapter.submit(adapterJob), {
        numOfAttempts: this.retry.attempts,
        startingDelay: this.retry.firstDelayMs,
        maxDelay: this.retry.maxDelayMs,
        jitter: 'full',
        retry: err =>
          err instanceof SubmitError &&
          err.errorClass === 'transient' &&
          !this.closed &&
          !this.record(id).cancelRequested
      });
      job = this.record(id);
      if (job.attempt !== attempt) {
        return;
      }
      job.nativeId = result.nativeId;
      job.submitTime = result.submitTime;
      job.submitting = false;
      this.transition(job, { state: 'QUEUED', time: now(), nativeState: 'SUBMITTED' });
      if (job.cancelRequested) {
        await this.requestCancel(job);
      }
    } catch (err) {
      job = this.record(id);
      if (job.attempt === attempt) {
        this.submitFailed(job, err);
      }
    } finally {
      this.inFlight.delete(id);
    }
  }

  /** afterOk jobs need native ids first; waits (re-checks later) while they are being submitted. */
  /**
   * afterOk jobs need their dependencies' native ids first: waits (re-checks later) while they
   * are being submitted; a dependency that already ended unsuccessfully can never be met.
   */
  private async dependenciesSubmitted(job: JobRecord): Promise<boolean> {
    for (const dep of job.spec.afterOk ?? []) {
      const other = this.store.get(dep);
      if (!other) {
        this.finish(job, 'FAILED', `dependency ${dep} is unknown`);
        return false;
      }
      if (isFinalState(other.status.state) && other.status.state !== 'COMPLETED') {
        this.finish(job, 'FAILED', `dependency ${dep} ended ${other.status.state}`);
        return false;
      }
      if (other.nativeId === undefined || other.submitting) {
        this.later(() => this.background(this.submitAttempt(job.id)), 500);
        return false;
      }
    }
    return true;
  }

  private submitFailed(job: JobRecord, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    if (job.cancelRequested) {
      if (job.redirectTo) {
        this.moveTo(job, job.redirectTo, `redirected from ${job.site}`);
      } else {
        this.finish(job, 'CANCELED', 'cancelled before submission');
      }
      return;
    }
    if (!(err instanceof SubmitError)) {
      this.finish(job, 'FAILED', `submission failed: ${message}`);
      return;
    }
    const fallback = this.sites.get(job.site)?.fallback;
    if (err.errorClass === 'capacity') {
      job.status = { ...job.status, time: now(), message: `waiting for capacity: ${message}` };
      this.store.save(job);
      this.emitJob(job);
      this.later(() => this.background(this.submitAttempt(job.id)), err.retryAfterMs ?? 60_000);
    } else if (err.errorClass === 'target' && fallback) {
      this.moveTo(job, fallback, `refused by ${job.site} (${message}); redirected to ${fallback}`);
    } else {
      this.finish(job, 'FAILED', `submission refused (${err.errorClass}): ${message}`);
    }
  }

  // --- polling and state ------------------------------------------------------------------

  private schedulePoll(runtime: SiteRuntime): void {
    if (this.closed) {
      return;
    }
    clearTimeout(runtime.timer);
    runtime.timer = setTimeout(() => {
      void this.pollSite(runtime)
        .catch(err => this.report(err))
        .finally(() => {
          if (this.runtimes.get(runtime.config.name) === runtime) {
            this.schedulePoll(runtime);
          }
        });
    }, runtime.config.pollIntervalSeconds * 1000);
  }

  /** Polls a site at once (tests, benchmarks); the timer keeps its own rhythm. */
  async pollNow(siteName: string): Promise<void> {
    const runtime = this.runtimes.get(siteName);
    if (runtime) {
      await this.pollSite(runtime);
    }
  }

  /** One scheduler listing for every submitted, unfinished job of the site. */
  private async pollSite(runtime: SiteRuntime): Promise<void> {
    if (runtime.polling) {
      return;
    }
    runtime.polling = true;
    try {
      const jobs = this.store
        .unfinished()
        .filter(j => j.site === runtime.config.name && j.nativeId !== undefined && !j.submitting);
      if (jobs.length === 0) {
        return;
      }
      let results: PolledStatus[];
      try {
        results = await runtime.adapter.poll(jobs.map(j => j.nativeId!));
        runtime.consecutiveFailures = 0;
      } catch (err) {
        runtime.consecutiveFailures++;
        if (runtime.consecutiveFailures === DEGRADED_AFTER) {
          process.stderr.write(
            `nexus-server: site ${runtime.config.name} degraded: ${err instanceof Error ? err.message : String(err)}\n`
          );
        }
        return;
      }
      const byNative = new Map(jobs.map(j => [j.nativeId!, j]));
      for (const result of results) {
        const polled = byNative.get(result.nativeId);
        if (!polled) {
          continue;
        }
        let status: PolledStatus = result;
        if (result.missing) {
          status = await runtime.adapter.resolveMissing(result.nativeId, polled.jobDir);
        }
        this.applyPolled(runtime, polled.id, status);
      }
    } finally {
      runtime.polling = false;
    }
  }

  private applyPolled(runtime: SiteRuntime, id: string, polled: PolledStatus): void {
    // Re-read: a cancel or redirect may have changed the row while the poll was running.
    const job = this.store.get(id);
    if (!job || job.nativeId !== polled.nativeId || isFinalState(job.status.state)) {
      return;
    }
    if (polled.missing) {
      const count = (runtime.missing.get(id) ?? 0) + 1;
      runtime.missing.set(id, count);
      if (count >= LOST_AFTER) {
        runtime.missing.delete(id);
        this.applyStatus(job, {
          nativeId: polled.nativeId,
          state: job.cancelRequested ? 'CANCELED' : 'FAILED',
          nativeState: 'UNKNOWN',
          message: `${runtime.config.name} no longer knows job ${polled.nativeId} and it left no exit status`
        });
      }
      return;
    }
    runtime.missing.delete(id);
    this.applyStatus(job, polled);
    const fallback = runtime.config.fallback;
    const after = this.store.get(id)!;
    if (polled.stuck && fallback && !after.cancelRequested && !isFinalState(after.status.state)) {
      after.redirectTo = fallback;
      after.cancelRequested = true;
      this.store.save(after);
      this.background(this.requestCancel(after));
    }
  }

  private applyStatus(job: JobRecord, polled: ApplicableStatus): void {
    let state = polled.state;
    // A job we asked to cancel ends CANCELED, unless it had already completed (reference §1.3).
    if (job.cancelRequested && state === 'FAILED') {
      state = 'CANCELED';
    }
    if (job.redirectTo && isFinalState(state)) {
      job.status = { ...job.status, state, time: now(), message: polled.message };
      this.moveTo(job, job.redirectTo, `redirected from ${job.site} (${polled.nativeId})`);
      return;
    }
    const status: JobStatus = {
      state,
      time: now(),
      nativeState: polled.nativeState,
      ...(polled.exitCode === undefined ? {} : { exitCode: polled.exitCode }),
      ...(polled.message === undefined ? {} : { message: polled.message })
    };
    if (JOB_STATE_ORDER[state] > JOB_STATE_ORDER[job.status.state]) {
      if (job.status.state === 'NEW' && state === 'ACTIVE') {
        // PSI/J: QUEUED is always reported between NEW and ACTIVE.
        this.transition(job, { state: 'QUEUED', time: status.time });
      }
      this.transition(job, status);
    } else if (
      state === job.status.state &&
      (polled.nativeState !== job.status.nativeState || polled.message !== job.status.message)
    ) {
      // Same state, new detail (a pending reason): shown, but not a new history entry.
      job.status = { ...status, time: job.status.time };
      this.store.save(job);
      this.emitJob(job);
    }
  }

  private transition(job: JobRecord, status: JobStatus): void {
    job.status = status;
    this.store.save(job, true);
    this.emitJob(job);
  }

  private finish(job: JobRecord, state: JobState, message: string): void {
    job.submitting = false;
    this.transition(job, { state, time: now(), message });
  }

  private async requestCancel(job: JobRecord): Promise<void> {
    if (job.submitting) {
      if (!this.inFlight.has(job.id)) {
        // Not at the scheduler (waiting to resubmit): nothing to cancel there.
        this.submitFailed(job, new Error('cancelled'));
      }
      return;
    }
    const runtime = this.runtimes.get(job.site);
    if (!runtime || !job.nativeId) {
      return;
    }
    try {
      await runtime.adapter.cancel(job.nativeId);
    } catch (err) {
      const fresh = this.record(job.id);
      fresh.status = {
        ...fresh.status,
        message: `cancel failed: ${err instanceof Error ? err.message : String(err)}`
      };
      this.store.save(fresh);
      this.emitJob(fresh);
    }
  }

  // --- restart and configuration ----------------------------------------------------------

  private async recover(job: JobRecord): Promise<void> {
    const runtime = this.runtimes.get(job.site);
    if (!runtime) {
      this.finish(job, 'FAILED', `site ${job.site} is no longer configured`);
      return;
    }
    if (job.submitting && job.cancelRequested) {
      this.submitFailed(job, new Error('cancelled'));
      return;
    }
    if (job.submitting) {
      // The crash came between recording the intent and learning the native id: the scheduler
      // decides whether the submission happened, so it is made exactly once.
      const found = await runtime.adapter.find(this.adapterJob(job)).catch(() => undefined);
      if (!found) {
        this.background(this.submitAttempt(job.id));
        return;
      }
      job.nativeId = found.nativeId;
      job.submitTime = found.submitTime;
      job.submitting = false;
      this.transition(job, {
        state: 'QUEUED',
        time: now(),
        nativeState: 'SUBMITTED',
        message: 'found after a restart'
      });
    }
    if (job.nativeId) {
      await runtime.adapter.attach(this.adapterJob(job), job.nativeId);
      if (job.cancelRequested) {
        await this.requestCancel(job);
      }
    }
  }

  private runtimeFor(site: SiteConfig): SiteRuntime {
    let runtime = this.runtimes.get(site.name);
    if (!runtime) {
      runtime = {
        config: site,
        adapter: this.adapterFactory(site),
        polling: false,
        consecutiveFailures: 0,
        missing: new Map()
      };
      this.runtimes.set(site.name, runtime);
    }
    return runtime;
  }

  /** New or changed sites get a fresh adapter, which re-attaches to the site's unfinished jobs. */
  private async reconfigure(): Promise<void> {
    const configured = new Map(this.sites.value.sites.map(s => [s.name, s]));
    for (const [name, runtime] of [...this.runtimes]) {
      const site = configured.get(name);
      if (!site || JSON.stringify(site) !== JSON.stringify(runtime.config)) {
        clearTimeout(runtime.timer);
        this.runtimes.delete(name);
        await runtime.adapter.close();
      }
    }
    for (const site of configured.values()) {
      if (this.runtimes.has(site.name)) {
        continue;
      }
      const runtime = this.runtimeFor(site);
      for (const job of this.store.unfinished().filter(j => j.site === site.name)) {
        await this.recover(job);
      }
      this.schedulePoll(runtime);
    }
  }

  // --- helpers ----------------------------------------------------------------------------

  private record(id: string): JobRecord {
    const job = this.store.get(id);
    if (!job) {
      throw new JobNotFoundError(`no job ${id}`);
    }
    return job;
  }

  private jobDirOf(id: string, attempt: number): string {
    return path.join(this.jobsDir, id, String(attempt));
  }

  private later(fn: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.closed) {
        fn();
      }
    }, ms);
    this.timers.add(timer);
  }

  /** Runs work nobody awaits; a failure is reported, never an unhandled rejection. */
  private background(task: Promise<void>): void {
    task.catch(err => this.report(err));
  }

  private report(err: unknown): void {
    process.stderr.write(
      `nexus-server: job manager: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`
    );
  }

  private emitJob(job: JobRecord): void {
    this.emit('job', this.store.view(job));
  }
}
