// Wire types of the job layer, shared by the server (server/jobs/) and the browser
// (src/pipelines/). The model follows PSI/J (see DEVELOPERS.md and the scheduler reference):
// states only move to a strictly higher order; FAILED and CANCELED are reachable from any
// non-final state.

export type JobState = 'NEW' | 'QUEUED' | 'ACTIVE' | 'COMPLETED' | 'FAILED' | 'CANCELED';

export const JOB_STATE_ORDER: Record<JobState, number> = {
  NEW: 0,
  QUEUED: 1,
  ACTIVE: 3,
  COMPLETED: 6,
  FAILED: 6,
  CANCELED: 6
};

export function isFinalState(state: JobState): boolean {
  return JOB_STATE_ORDER[state] === 6;
}

export interface JobResources {
  nodes?: number;
  processes?: number;
  coresPerProcess?: number;
  gpus?: number;
  /** memory per node in MiB */
  memoryMb?: number;
}

export interface JobAttributes {
  /** Slurm partition or PBS queue; for Slurm QOS-style queues see the site's queue table */
  queue?: string;
  account?: string;
  /** wall-clock limit in seconds */
  durationSeconds?: number;
  /** extra scheduler options, passed through verbatim as separate arguments */
  customOptions?: string[];
}

export interface JobSpec {
  /** human-readable name; our uuid is added by the adapter */
  name?: string;
  /** executable and arguments, run without a shell */
  command: string[];
  directory?: string;
  environment?: Record<string, string>;
  resources?: JobResources;
  attributes?: JobAttributes;
  /** array job: task indices 0..arrayTasks-1, each sees NEXUS_TASK_INDEX */
  arrayTasks?: number;
  /** ids (our uuids) of jobs that must complete successfully first */
  afterOk?: string[];
}

export interface JobStatus {
  state: JobState;
  /** ISO 8601 */
  time: string;
  exitCode?: number;
  /** scheduler's own state word, e.g. PENDING, TIMEOUT, F */
  nativeState?: string;
  /** scheduler's reason or our explanation */
  message?: string;
}

/** One earlier attempt of a job (before a retry or a redirect) and how it ended. */
export interface JobAttempt {
  attempt: number;
  site: string;
  nativeId?: string;
  submitTime?: string;
  state: JobState;
  message?: string;
  /** ISO 8601, when the job moved on */
  time: string;
}

export interface JobView {
  id: string;
  site: string;
  spec: JobSpec;
  status: JobStatus;
  nativeId?: string;
  submitTime?: string;
  /** attempts on this and earlier sites, oldest first */
  attempts: number;
  /** every status of every attempt, oldest first */
  history: JobStatus[];
  /** the attempts before the current one (retries, redirects to other sites) */
  previousAttempts: JobAttempt[];
}

/** active: ACTIVE; waiting: NEW, QUEUED; failed: FAILED, CANCELED; completed: COMPLETED. */
export type JobFilter = 'active' | 'waiting' | 'failed' | 'completed';

/** Messages pushed over the WebSocket `/events`. */
export type JobEvent = { type: 'job'; job: JobView };
