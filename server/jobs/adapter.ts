import type { JobSpec, JobState } from '../../src/protocol/jobs.js';

// The contract every scheduler adapter (local, Slurm, PBS Pro) implements. The job manager
// owns persistence, retries and redirects; adapters only translate to scheduler commands.

/** A job as the adapter sees it: our uuid, the spec, the directory holding its script and logs. */
export interface AdapterJob {
  uuid: string;
  /** 1 for the first submission; retries and redirects are new attempts of the same uuid */
  attempt: number;
  /**
   * `<uuid>.<attempt>`: what the adapter embeds in the job name or comment (Slurm `-J`/`--comment`,
   * PBS `-N`) so that `find` can recognise this very submission after a crash
   */
  tag: string;
  spec: JobSpec;
  /** private per-job directory: job script, stdout, stderr, `<nativeId>.ec` exit-code file */
  jobDir: string;
  /** native ids of the jobs this one waits for (already resolved from our uuids) */
  afterOkNative?: string[];
}

export interface SubmitResult {
  nativeId: string;
  /** ISO 8601 */
  submitTime: string;
}

export type SubmitErrorClass = 'transient' | 'capacity' | 'target' | 'spec';

/** A refused submission, classified so the manager can retry, wait, redirect or fail. */
export class SubmitError extends Error {
  constructor(
    readonly errorClass: SubmitErrorClass,
    message: string,
    readonly retryAfterMs?: number
  ) {
    super(message);
    this.name = 'SubmitError';
  }
}

/** What one poll learned about one job; `missing` when the scheduler no longer lists it. */
export type PolledStatus =
  | { nativeId: string; missing: true }
  | {
      nativeId: string;
      missing?: false;
      state: JobState;
      nativeState: string;
      exitCode?: number;
      message?: string;
      /**
       * the scheduler will never start it as submitted (Slurm DependencyNeverSatisfied,
       * PartitionTimeLimit, ...): the manager redirects it to the site's fallback, if any
       */
      stuck?: boolean;
    };

export interface AdapterCapabilities {
  arrays: boolean;
  dependencies: boolean;
  history: boolean;
}

export interface SchedulerAdapter {
  readonly kind: 'local' | 'slurm' | 'pbs';
  capabilities(): AdapterCapabilities;
  /** Problems found locally before submitting (queue limits, access, account); empty if none. */
  validate(spec: JobSpec): string[];
  submit(job: AdapterJob): Promise<SubmitResult>;
  /**
   * The submission carrying `job.tag`, if the scheduler (or, for local, the job directory) knows
   * it: recovery after a crash between recording the intent and learning the native id.
   */
  find(job: AdapterJob): Promise<SubmitResult | undefined>;
  /** Resume tracking a job submitted before a restart (local re-attaches to its process). */
  attach(job: AdapterJob, nativeId: string): Promise<void>;
  /** One batched scheduler call for all ids, never one call per job. */
  poll(nativeIds: string[]): Promise<PolledStatus[]>;
  /** Final status of a job the scheduler no longer lists (history, then the `.ec` file). */
  resolveMissing(nativeId: string, jobDir: string): Promise<PolledStatus>;
  /** Request a cancel; the manager confirms it by polling. */
  cancel(nativeId: string): Promise<void>;
  close(): Promise<void>;
}

/** What a scheduler command printed and its exit status (non-zero is a result, not an error). */
export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a scheduler command without a shell; injectable so PBS can be tested on recorded output. */
export interface CommandRunner {
  run(
    command: string,
    args: string[],
    options?: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string }
  ): Promise<CommandResult>;
}
