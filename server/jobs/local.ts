import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JobSpec } from '../../src/protocol/jobs.js';
import { isFinalState } from '../../src/protocol/jobs.js';
import type {
  AdapterCapabilities,
  AdapterJob,
  PolledStatus,
  SchedulerAdapter,
  SubmitResult
} from './adapter.js';
import { readExitCode, startedMarkerPath, writeJobScript } from './script.js';
import type { SiteConfig } from './sites.js';
import { siteProblems } from './sites.js';

// The local executor (scheduler reference §5): runs jobs on this machine, at most `concurrency`
// processes (array tasks) at once. Every task runs the shared wrapper script in its own process
// group (detached), so it survives a restart of the server; its pid and kernel start time are
// written next to it, and a restarted server re-attaches only to a pid whose /proc start time
// still matches (pids are reused). The wrapper's `.ec` file is the authority on the exit status.

type TaskPhase = 'pending' | 'running' | 'done';

interface Task {
  nativeId: string;
  index?: number;
  phase: TaskPhase;
  pid?: number;
  startTicks?: string;
  /** ms since the epoch, for the duration limit */
  startedAt?: number;
  /** true when this server spawned it (then the exit event reports it) */
  child?: boolean;
  exitCode?: number;
  signal?: string;
  timedOut?: boolean;
  /** ended while the server was down, without an exit status */
  lost?: boolean;
  killTimer?: NodeJS.Timeout;
}

interface LocalJob {
  nativeId: string;
  jobDir: string;
  script: string;
  environment: Record<string, string>;
  durationMs?: number;
  afterOk: string[];
  tasks: Task[];
  cancelRequested: boolean;
  waitingForDependencies?: boolean;
  /** why the job can never run (a dependency failed) */
  refused?: string;
}

interface SubmissionRecord {
  tag: string;
  nativeId: string;
  submitTime: string;
}

const SUBMISSION_FILE = 'local-submission.json';

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or undefined if gone. */
function processStartTicks(pid: number): string | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); a zombie has finished and only waits for its parent.
  return fields[0] === 'Z' ? undefined : fields[19];
}

function isSameProcess(task: Task): boolean {
  return task.pid !== undefined && processStartTicks(task.pid) === task.startTicks;
}

function pidFile(jobDir: string, nativeId: string): string {
  return path.join(jobDir, `${nativeId}.pid`);
}

/** The environment jobs inherit: the server's, minus its own secret. */
function jobEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && k !== 'NEXUS_SERVER_TOKEN') {
      env[k] = v;
    }
  }
  return env;
}

/** The running process whose environment carries NEXUS_NATIVE_ID=<nativeId>, if any. */
function findProcessByNativeId(nativeId: string): number | undefined {
  const needle = Buffer.from(`\0NEXUS_NATIVE_ID=${nativeId}\0`);
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    try {
      const environ = Buffer.concat([Buffer.from([0]), fs.readFileSync(`/proc/${entry}/environ`)]);
      if (environ.includes(needle)) {
        return Number(entry);
      }
    } catch {
      // not ours to read, or gone
    }
  }
  return undefined;
}

export interface LocalAdapterOptions {
  /** time between SIGTERM and SIGKILL on cancel or timeout */
  graceMs?: number;
}

export class LocalAdapter implements SchedulerAdapter {
  readonly kind = 'local';
  private readonly jobs = new Map<string, LocalJob>();
  private readonly reportedFinal = new Set<string>();
  private readonly limit: number;
  private readonly graceMs: number;
  private running = 0;
  private closed = false;

  constructor(
    private readonly site: SiteConfig,
    options: LocalAdapterOptions = {}
  ) {
    this.limit = site.concurrency ?? os.cpus().length;
    this.graceMs = options.graceMs ?? 5000;
  }

  capabilities(): AdapterCapabilities {
    return { arrays: true, dependencies: true, history: false };
  }

  validate(spec: JobSpec): string[] {
    const problems = siteProblems(spec, this.site);
    if ((spec.resources?.gpus ?? 0) > 0) {
      problems.push('the local executor does not allocate GPUs');
    }
    return problems;
  }

  async submit(job: AdapterJob): Promise<SubmitResult> {
    const nativeId = `local-${randomBytes(6).toString('hex')}`;
    const script = writeJobScript(job, {
      nativeIdExpr: '"$NEXUS_NATIVE_ID"',
      setup: this.site.setup
    });
    const record: SubmissionRecord = {
      tag: job.tag,
      nativeId,
      submitTime: new Date().toISOString()
    };
    // Durable before the job can run, so `find` recognises the submission after a crash, even
    // of the machine, instead of running the job a second time.
    const file = path.join(job.jobDir, SUBMISSION_FILE);
    const fd = fs.openSync(`${file}.tmp`, 'w');
    try {
      fs.writeSync(fd, JSON.stringify(record));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(`${file}.tmp`, file);
    const dir = fs.openSync(job.jobDir, 'r');
    try {
      fs.fsyncSync(dir);
    } finally {
      fs.closeSync(dir);
    }
    this.jobs.set(nativeId, this.newJob(job, nativeId, script));
    this.pump();
    return { nativeId, submitTime: record.submitTime };
  }

  async find(job: AdapterJob): Promise<SubmitResult | undefined> {
    try {
      const record = JSON.parse(
        fs.readFileSync(path.join(job.jobDir, SUBMISSION_FILE), 'utf8')
      ) as SubmissionRecord;
      return record.tag === job.tag
        ? { nativeId: record.nativeId, submitTime: record.submitTime }
        : undefined;
    } catch {
      return undefined;
    }
  }

  async attach(job: AdapterJob, nativeId: string): Promise<void> {
    if (this.jobs.has(nativeId)) {
      return;
    }
    const local = this.newJob(job, nativeId, path.join(job.jobDir, 'job.sh'));
    for (const task of local.tasks) {
      this.reattachTask(local, task);
    }
    this.jobs.set(nativeId, local);
    this.pump();
  }

  async poll(nativeIds: string[]): Promise<PolledStatus[]> {
    // Jobs whose final state an earlier poll reported are settled in the manager's store; their
    // dependants have already consumed them (see dependenciesMet).
    for (const id of this.reportedFinal) {
      this.jobs.delete(id);
    }
    this.reportedFinal.clear();
    for (const job of this.jobs.values()) {
      this.checkTasks(job);
    }
    this.pump();
    return nativeIds.map(id => {
      const job = this.jobs.get(id);
      if (!job) {
        return { nativeId: id, missing: true };
      }
      const status = this.statusOf(job);
      if (!status.missing && isFinalState(status.state)) {
        this.reportedFinal.add(id);
      }
      return status;
    });
  }

  async resolveMissing(nativeId: string, jobDir: string): Promise<PolledStatus> {
    const exitCode = readExitCode(jobDir, nativeId);
    if (exitCode === undefined) {
      return { nativeId, missing: true };
    }
    return exitCode === 0
      ? { nativeId, state: 'COMPLETED', nativeState: 'COMPLETED', exitCode }
      : { nativeId, state: 'FAILED', nativeState: 'FAILED', exitCode };
  }

  async cancel(nativeId: string): Promise<void> {
    const job = this.jobs.get(nativeId);
    if (!job || job.tasks.every(t => t.phase === 'done')) {
      return;
    }
    job.cancelRequested = true;
    for (const task of job.tasks) {
      if (task.phase === 'pending') {
        task.phase = 'done';
      } else if (task.phase === 'running') {
        this.terminate(task);
      }
    }
  }

  async close(): Promise<void> {
    // Running jobs keep running (they are detached): a restarted server re-attaches to them.
    this.closed = true;
    for (const job of this.jobs.values()) {
      for (const task of job.tasks) {
        clearTimeout(task.killTimer);
      }
    }
  }

  private newJob(job: AdapterJob, nativeId: string, script: string): LocalJob {
    const count = job.spec.arrayTasks;
    const tasks: Task[] =
      count === undefined
        ? [{ nativeId, phase: 'pending' }]
        : Array.from({ length: count }, (_, index) => ({
            nativeId: `${nativeId}_${index}`,
            index,
            phase: 'pending' as const
          }));
    const duration = job.spec.attributes?.durationSeconds;
    return {
      nativeId,
      jobDir: job.jobDir,
      script,
      environment: job.spec.environment ?? {},
      durationMs: duration === undefined ? undefined : duration * 1000,
      afterOk: job.afterOkNative ?? [],
      tasks,
      cancelRequested: false
    };
  }

  private reattachTask(job: LocalJob, task: Task): void {
    const exitCode = readExitCode(job.jobDir, task.nativeId);
    let pid: number | undefined;
    let startTicks: string | undefined;
    try {
      const [p, t] = fs.readFileSync(pidFile(job.jobDir, task.nativeId), 'utf8').trim().split(' ');
      pid = Number(p);
      startTicks = t;
    } catch {
      // No pid file: the server may have died between spawn and writing it.
      pid = findProcessByNativeId(task.nativeId);
      startTicks = pid === undefined ? undefined : processStartTicks(pid);
    }
    const started = fs.statSync(startedMarkerPath(job.jobDir, task.nativeId), {
      throwIfNoEntry: false
    });
    if (pid !== undefined && startTicks !== undefined && processStartTicks(pid) === startTicks) {
      Object.assign(task, {
        phase: 'running',
        pid,
        startTicks,
        startedAt: started?.mtimeMs ?? Date.now(),
        child: false
      });
      this.running++;
      this.armTimeLimit(job, task);
    } else if (exitCode !== undefined) {
      Object.assign(task, { phase: 'done', exitCode });
    } else if (pid !== undefined || started) {
      Object.assign(task, { phase: 'done', lost: true });
    }
    // otherwise it never started: it stays pending and runs when a slot is free
  }

  /** Starts pending tasks while slots are free and their dependencies are met. */
  private pump(): void {
    if (this.closed) {
      return;
    }
    const ready = [...this.jobs.values()].filter(
      job => job.tasks.some(t => t.phase === 'pending') && this.dependenciesMet(job)
    );
    for (const job of ready) {
      for (const task of job.tasks) {
        if (this.running >= this.limit) {
          return;
        }
        if (task.phase === 'pending') {
          this.start(job, task);
        }
      }
    }
  }

  /** Updates `job.waitingForDependencies`; ends the job if a dependency can never be met. */
  private dependenciesMet(job: LocalJob): boolean {
    job.waitingForDependencies = false;
    for (const dep of [...job.afterOk]) {
      const other = this.jobs.get(dep);
      const status = other ? this.statusOf(other) : undefined;
      if (!status || status.missing || status.state === 'FAILED' || status.state === 'CANCELED') {
        // Slurm would leave it pending forever (DependencyNeverSatisfied); we end it at once.
        job.refused = `dependency ${dep} ${status && !status.missing ? `ended ${status.state}` : 'is unknown'}`;
        for (const task of job.tasks) {
          task.phase = 'done';
        }
        return false;
      }
      if (status.state === 'COMPLETED') {
        // Met for good: the dependency may now be forgotten.
        job.afterOk = job.afterOk.filter(id => id !== dep);
      } else {
        job.waitingForDependencies = true;
      }
    }
    return !job.waitingForDependencies;
  }

  private start(job: LocalJob, task: Task): void {
    const child = spawn('/bin/bash', [job.script], {
      detached: true,
      stdio: 'ignore',
      cwd: job.jobDir,
      env: {
        ...jobEnvironment(),
        NEXUS_NATIVE_ID: task.nativeId,
        ...(task.index === undefined ? {} : { NEXUS_TASK_INDEX: String(task.index) })
      }
    });
    child.unref();
    const pid = child.pid;
    if (pid === undefined) {
      Object.assign(task, { phase: 'done', lost: true });
      return;
    }
    Object.assign(task, {
      phase: 'running',
      pid,
      startTicks: processStartTicks(pid),
      startedAt: Date.now(),
      child: true
    });
    this.running++;
    fs.writeFileSync(pidFile(job.jobDir, task.nativeId), `${pid} ${task.startTicks ?? ''}\n`);
    child.on('exit', (code, signal) => {
      // The wrapper's record wins: the payload may have ended before a signal hit the wrapper.
      task.exitCode = readExitCode(job.jobDir, task.nativeId) ?? code ?? undefined;
      task.signal = task.exitCode === undefined ? (signal ?? undefined) : undefined;
      this.finish(task);
    });
    child.on('error', () => {
      task.lost = true;
      this.finish(task);
    });
    this.armTimeLimit(job, task);
  }

  private armTimeLimit(job: LocalJob, task: Task): void {
    if (job.durationMs === undefined) {
      return;
    }
    const left = Math.max(0, job.durationMs - (Date.now() - (task.startedAt ?? Date.now())));
    task.killTimer = setTimeout(() => {
      if (task.phase === 'running') {
        task.timedOut = true;
        this.terminate(task);
      }
    }, left);
    task.killTimer.unref();
  }

  private finish(task: Task): void {
    if (task.phase !== 'running') {
      return;
    }
    task.phase = 'done';
    clearTimeout(task.killTimer);
    this.running--;
    this.pump();
  }

  /** For tasks this server did not spawn: notice their end through /proc and the `.ec` file. */
  private checkTasks(job: LocalJob): void {
    for (const task of job.tasks) {
      if (task.phase === 'running' && !task.child && !isSameProcess(task)) {
        task.exitCode = readExitCode(job.jobDir, task.nativeId);
        task.lost = task.exitCode === undefined && !job.cancelRequested && !task.timedOut;
        this.finish(task);
      }
    }
  }

  /** SIGTERM to the task's process group, SIGKILL after the grace period. */
  private terminate(task: Task): void {
    const signalGroup = (signal: NodeJS.Signals) => {
      if (isSameProcess(task)) {
        try {
          process.kill(-task.pid!, signal);
        } catch {
          // already gone
        }
      }
    };
    signalGroup('SIGTERM');
    clearTimeout(task.killTimer);
    task.killTimer = setTimeout(() => signalGroup('SIGKILL'), this.graceMs);
    task.killTimer.unref();
  }

  private statusOf(job: LocalJob): PolledStatus {
    const nativeId = job.nativeId;
    const tasks = job.tasks;
    if (job.refused) {
      return {
        nativeId,
        state: 'FAILED',
        nativeState: 'DEPENDENCY_NEVER_SATISFIED',
        message: job.refused
      };
    }
    if (
      tasks.some(t => t.phase === 'running') ||
      (tasks.some(t => t.phase === 'done') && tasks.some(t => t.phase === 'pending'))
    ) {
      return { nativeId, state: 'ACTIVE', nativeState: 'RUNNING' };
    }
    if (tasks.every(t => t.phase === 'pending')) {
      const message = job.waitingForDependencies
        ? 'waiting for dependencies'
        : `waiting for a free slot (${this.running} of ${this.limit} running)`;
      return { nativeId, state: 'QUEUED', nativeState: 'PENDING', message };
    }
    // Every task is done. One that ended with status 0 completed, even if a cancel or the time
    // limit came as it ended (scheduler reference §1.3).
    if (tasks.every(t => t.exitCode === 0)) {
      return { nativeId, state: 'COMPLETED', nativeState: 'COMPLETED', exitCode: 0 };
    }
    if (job.cancelRequested) {
      return { nativeId, state: 'CANCELED', nativeState: 'CANCELLED' };
    }
    const timedOut = tasks.find(t => t.timedOut);
    if (timedOut) {
      return {
        nativeId,
        state: 'FAILED',
        nativeState: 'TIMEOUT',
        message: `time limit of ${(job.durationMs ?? 0) / 1000} s exceeded`
      };
    }
    const failed = tasks.find(t => t.exitCode !== 0)!;
    const which = failed.index === undefined ? '' : `task ${failed.index}: `;
    if (failed.exitCode !== undefined) {
      return {
        nativeId,
        state: 'FAILED',
        nativeState: 'FAILED',
        exitCode: failed.exitCode,
        message: `${which}exit code ${failed.exitCode}`
      };
    }
    const message = failed.signal
      ? `${which}killed by ${failed.signal}`
      : `${which}ended while the server was down, without an exit status`;
    return { nativeId, state: 'FAILED', nativeState: 'FAILED', message };
  }
}
