import type { JobState } from '../../src/protocol/jobs.js';

// Pure parsers and state rules for PBS Pro (scheduler reference §1.2, §1.3, §4). Written from the
// qsub/qstat man pages, OpenPBS's job.h and ALCF's examples: no live PBS was available.

/** `qsub` prints the new id: `349726.polaris-pbs-01…` or `12345[].server` for an array. */
export function parseQsubOutput(stdout: string): string {
  const id = stdout.trim().split('\n').pop()?.trim() ?? '';
  if (!/^\d+(\[\])?(\.\S+)?$/.test(id)) {
    throw new Error(`unexpected qsub output: ${JSON.stringify(stdout.trim())}`);
  }
  return id;
}

/** The sequence number (with `[]` for arrays), without the server name: qstat may spell that differently. */
export function pbsShortId(id: string): string {
  return id.split('.')[0];
}

export interface QstatJob {
  id: string;
  name?: string;
  state: string;
  queue?: string;
  comment?: string;
  exitStatus?: number;
  /** `qtime`, when the server queued it, as ISO 8601 */
  submitTime?: string;
}

/**
 * `qstat -f -F json -x <ids…>`: `{"timestamp", "pbs_version", "pbs_server", "Jobs": {id: {…}}}`.
 * `Jobs` is absent when none of the ids is known.
 */
export function parseQstatJson(stdout: string): QstatJob[] {
  if (stdout.trim() === '') {
    return [];
  }
  let document: unknown;
  try {
    document = JSON.parse(stdout);
  } catch (err) {
    throw new Error(`qstat printed invalid JSON: ${(err as Error).message}`);
  }
  if (typeof document !== 'object' || document === null) {
    throw new Error('qstat JSON is not an object');
  }
  const jobs = (document as { Jobs?: Record<string, Record<string, unknown>> }).Jobs ?? {};
  return Object.entries(jobs).map(([id, job]) => {
    const exit = job.Exit_status;
    return {
      id,
      name: typeof job.Job_Name === 'string' ? job.Job_Name : undefined,
      state: String(job.job_state ?? ''),
      queue: typeof job.queue === 'string' ? job.queue : undefined,
      comment: typeof job.comment === 'string' ? job.comment : undefined,
      exitStatus:
        typeof exit === 'number' ? exit : typeof exit === 'string' ? Number(exit) : undefined,
      submitTime: pbsTime(job.qtime)
    };
  });
}

/** qstat prints times as `Tue Nov 24 20:00:00 2026` (server local time). */
function pbsTime(value: unknown): string | undefined {
  const time = typeof value === 'string' ? Date.parse(value) : NaN;
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

/** `qstat: Unknown Job Id 123.server` lines: ids the server has forgotten (or never had). */
export function unknownJobIds(stderr: string): string[] {
  return [...stderr.matchAll(/Unknown Job Id:?\s+(\S+)/gi)].map(match => match[1]);
}

const LIVE_STATES: Record<string, JobState> = {
  Q: 'QUEUED',
  H: 'QUEUED',
  W: 'QUEUED',
  T: 'QUEUED',
  U: 'QUEUED',
  S: 'QUEUED',
  M: 'QUEUED',
  R: 'ACTIVE',
  E: 'ACTIVE',
  B: 'ACTIVE'
};

const STATE_WORDS: Record<string, string> = {
  Q: 'queued',
  H: 'held',
  W: 'waiting',
  T: 'in transit',
  U: 'suspended (workstation busy)',
  S: 'suspended',
  M: 'moved to another server',
  R: 'running',
  E: 'exiting',
  B: 'array running',
  F: 'finished',
  X: 'finished (subjob)'
};

// OpenPBS src/include/job.h: PBS-side failures are negative Exit_status values.
const JOB_EXEC: Record<number, string> = {
  [-1]: 'JOB_EXEC_FAIL1: execution failed before files, no retry',
  [-2]: 'JOB_EXEC_FAIL2: execution failed after files, no retry',
  [-3]: 'JOB_EXEC_RETRY: execution failed, retried',
  [-4]: 'JOB_EXEC_INITABT: aborted on MoM initialisation',
  [-5]: 'JOB_EXEC_INITRST: aborted on MoM initialisation, checkpointed',
  [-6]: 'JOB_EXEC_INITRMG: aborted on MoM initialisation, checkpointed, migratable',
  [-7]: 'JOB_EXEC_BADRESRT: restart failed',
  [-10]: 'JOB_EXEC_FAILUID: invalid user or group for the job',
  [-11]: 'JOB_EXEC_RERUN: rerun',
  [-12]: 'JOB_EXEC_CHKP: checkpointed and killed',
  [-13]: 'JOB_EXEC_FAIL_PASSWORD: bad password',
  [-14]: 'JOB_EXEC_RERUN_ON_SIS_FAIL: rerun after a sister node failed',
  [-15]: 'JOB_EXEC_QUERST: requeued for restart',
  [-16]: 'JOB_EXEC_FAILHOOK_RERUN: a hook rejected the job, requeued',
  [-17]: 'JOB_EXEC_FAILHOOK_DELETE: a hook rejected the job',
  [-18]: 'JOB_EXEC_HOOK_RERUN: a hook requeued the job',
  [-19]: 'JOB_EXEC_HOOK_DELETE: a hook deleted the job',
  [-20]: 'JOB_EXEC_RERUN_MS_FAIL: connection to the mother superior failed',
  [-21]: 'JOB_EXEC_FAIL_SECURITY: security breach in the PBS directory',
  [-22]: 'JOB_EXEC_HOOKERROR: hook error or timeout',
  [-23]: 'JOB_EXEC_FAIL_KRB5: no Kerberos credentials',
  [-24]: 'JOB_EXEC_KILL_NCPUS_BURST: ncpus exceeded (burst)',
  [-25]: 'JOB_EXEC_KILL_NCPUS_SUM: ncpus exceeded (sum)',
  [-26]: 'JOB_EXEC_KILL_VMEM: vmem limit exceeded',
  [-27]: 'JOB_EXEC_KILL_MEM: memory limit exceeded',
  [-28]: 'JOB_EXEC_KILL_CPUT: cput limit exceeded',
  [-29]: 'JOB_EXEC_KILL_WALLTIME: walltime exceeded'
};

const SIGNAL_NAMES: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  6: 'SIGABRT',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  15: 'SIGTERM'
};

export interface PbsModelStatus {
  state: JobState;
  exitCode?: number;
  message?: string;
}

/**
 * PSI/J's rule, made explicit: a final job (F, X) is COMPLETED with Exit_status 0, CANCELED when
 * killed by SIGKILL (265 = 256 + 9, what qdel of a running job gives), FAILED otherwise:
 * 1–255 is the script's own status, 256+n a signal, a negative value a PBS-side JOB_EXEC_* failure.
 * A final job without Exit_status never ran: it was deleted while queued (CANCELED).
 * The `comment` is PBS's own explanation and becomes the message unless a more precise one exists.
 */
export function pbsStatus(job: QstatJob): PbsModelStatus {
  const live = LIVE_STATES[job.state];
  if (live !== undefined) {
    return { state: live, message: job.comment ?? STATE_WORDS[job.state] };
  }
  if (job.state !== 'F' && job.state !== 'X') {
    throw new Error(`unknown PBS job state ${JSON.stringify(job.state)} for ${job.id}`);
  }
  const exit = job.exitStatus;
  if (exit === undefined || Number.isNaN(exit)) {
    return { state: 'CANCELED', message: job.comment ?? 'deleted before it ran' };
  }
  if (exit === 0) {
    return { state: 'COMPLETED', exitCode: 0, message: job.comment };
  }
  if (exit === 265) {
    return { state: 'CANCELED', message: 'killed (SIGKILL, qdel)' };
  }
  if (exit > 256) {
    const signal = exit - 256;
    return {
      state: 'FAILED',
      message: `killed by signal ${signal}${SIGNAL_NAMES[signal] ? ` (${SIGNAL_NAMES[signal]})` : ''}`
    };
  }
  if (exit < 0) {
    return {
      state: 'FAILED',
      message: JOB_EXEC[exit] ?? `PBS failure ${exit} (JOB_EXEC_*)`
    };
  }
  return { state: 'FAILED', exitCode: exit, message: job.comment };
}
