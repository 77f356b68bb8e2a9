import type { JobState } from '../../src/protocol/jobs.js';

// Pure parsers for Slurm's command output (scheduler reference §3). The `|`-delimited -o / -P
// formats are used everywhere: they are the stable ones across versions, unlike --json.

/** `sbatch --parsable` prints `jobid` or `jobid;cluster`. */
export function parseSbatchParsable(stdout: string): string {
  const id = stdout.trim().split('\n').pop()?.split(';')[0].trim() ?? '';
  if (!/^\d+$/.test(id)) {
    throw new Error(`unexpected sbatch output: ${JSON.stringify(stdout.trim())}`);
  }
  return id;
}

export interface SlurmVersion {
  major: number;
  minor: number;
  patch: number;
}

/** `sinfo --version` / `sbatch --version`: "slurm 23.11.4" or Debian's "slurm-wlm 22.05.8". */
export function parseSlurmVersion(output: string): SlurmVersion {
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(output);
  if (match === null) {
    throw new Error(`unrecognised Slurm version: ${JSON.stringify(output.trim())}`);
  }
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3] ?? 0) };
}

/** `squeue --me` appeared in 20.11; older releases need `-u <user>`. */
export function squeueSupportsMe(version: SlurmVersion): boolean {
  return version.major > 20 || (version.major === 20 && version.minor >= 11);
}

// The job name is last so a name containing `|` survives a split with a field limit.
export const SQUEUE_FORMAT = '%i|%A|%F|%K|%T|%r|%P|%q|%V|%S|%e|%o|%j';
const SQUEUE_FIELDS = 13;

export interface SqueueRow {
  /** user-visible id: `12` or `12_3` for an array task */
  id: string;
  /** unique id of this job or task */
  rawId: string;
  /** array master id (the job's own id when it is not an array) */
  arrayJobId: string;
  /** task index, undefined outside arrays */
  arrayTaskId?: number;
  state: string;
  reason: string;
  partition: string;
  qos: string;
  submitTime: string;
  startTime?: string;
  endTime?: string;
  /** the batch script as submitted; its directory is our job directory */
  command: string;
  name: string;
}

export function parseSqueue(stdout: string): SqueueRow[] {
  const rows: SqueueRow[] = [];
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') {
      continue;
    }
    const parts = line.split('|');
    if (parts.length < SQUEUE_FIELDS) {
      throw new Error(`unexpected squeue line: ${JSON.stringify(line)}`);
    }
    const name = parts.slice(SQUEUE_FIELDS - 1).join('|');
    const [id, rawId, arrayJobId, taskId, state, reason, partition, qos, submit, start, end, cmd] =
      parts;
    rows.push({
      id,
      rawId,
      arrayJobId,
      arrayTaskId: /^\d+$/.test(taskId) ? Number(taskId) : undefined,
      state,
      reason,
      partition,
      qos: qos === '(null)' ? '' : qos,
      submitTime: submit,
      startTime: optionalTime(start),
      endTime: optionalTime(end),
      command: cmd,
      name
    });
  }
  return rows;
}

function optionalTime(value: string): string | undefined {
  return value === 'N/A' || value === 'Unknown' || value === '' ? undefined : value;
}

const STATE_MAP: Record<string, JobState> = {
  PENDING: 'QUEUED',
  CONFIGURING: 'QUEUED',
  RESV_DEL_HOLD: 'QUEUED',
  REQUEUE_FED: 'QUEUED',
  REQUEUE_HOLD: 'QUEUED',
  REVOKED: 'QUEUED',
  RUNNING: 'ACTIVE',
  COMPLETING: 'ACTIVE',
  REQUEUED: 'ACTIVE',
  STAGE_OUT: 'ACTIVE',
  RESIZING: 'ACTIVE',
  SIGNALING: 'ACTIVE',
  SPECIAL_EXIT: 'ACTIVE',
  STOPPED: 'ACTIVE',
  SUSPENDED: 'ACTIVE',
  COMPLETED: 'COMPLETED',
  CANCELLED: 'CANCELED',
  FAILED: 'FAILED',
  TIMEOUT: 'FAILED',
  OUT_OF_MEMORY: 'FAILED',
  NODE_FAIL: 'FAILED',
  BOOT_FAIL: 'FAILED',
  DEADLINE: 'FAILED',
  PREEMPTED: 'FAILED'
};

/** Long state (squeue %T, sacct State, scontrol JobState) → model. sacct prints `CANCELLED by 0`. */
export function slurmStateToModel(nativeState: string): JobState {
  const word = nativeState.trim().split(/\s+/)[0].replace(/\+$/, '');
  const state = STATE_MAP[word];
  if (state === undefined) {
    throw new Error(`unknown Slurm job state ${JSON.stringify(nativeState)}`);
  }
  return state;
}

// Pending reasons that can never resolve themselves: the manager should redirect (reference §7).
const HOPELESS_REASONS = new Set([
  'DependencyNeverSatisfied',
  'PartitionTimeLimit',
  'InvalidQOS',
  'InvalidAccount',
  'PartitionDown',
  'PartitionNodeLimit',
  'ReqNodeNotAvail'
]);

export function isHopelessPendingReason(reason: string): boolean {
  return HOPELESS_REASONS.has(reason.split(/[ ,(]/)[0]);
}

/** `ExitCode=3:0` (scontrol) / `3:0` (sacct): exit status and terminating signal. */
export function parseExitCode(value: string): { exit: number; signal: number } | undefined {
  const match = /^(\d+):(\d+)$/.exec(value.trim());
  return match ? { exit: Number(match[1]), signal: Number(match[2]) } : undefined;
}

/** `scontrol show job -o <id>`: one line of `Key=Value` pairs per job (array tasks: one line each). */
export function parseScontrolJobs(stdout: string): Record<string, string>[] {
  return stdout
    .split('\n')
    .filter(line => line.trim() !== '')
    .map(line => {
      const record: Record<string, string> = {};
      // values never contain spaces except the ones Slurm lets run to the end of the line
      for (const match of line.matchAll(/(\S+?)=(.*?)(?=\s+\S+?=|$)/g)) {
        record[match[1]] = match[2];
      }
      return record;
    });
}

export const SACCT_FIELDS = 'JobID,JobIDRaw,State,ExitCode,Submit,Start,End';

export interface SacctRow {
  id: string;
  rawId: string;
  state: string;
  exitCode?: { exit: number; signal: number };
  submitTime: string;
}

/** `sacct -X -P -n -D -o <SACCT_FIELDS>`. */
export function parseSacct(stdout: string): SacctRow[] {
  return stdout
    .split('\n')
    .filter(line => line.trim() !== '')
    .map(line => {
      const [id, rawId, state, exitCode, submit] = line.split('|');
      return { id, rawId, state, exitCode: parseExitCode(exitCode ?? ''), submitTime: submit };
    });
}

/** What one Slurm job (or a whole array) amounts to in the model. */
export interface SlurmJobSummary {
  state: JobState;
  nativeState: string;
  reason?: string;
  /** directory of the batch script: where the wrapper leaves `<id>.ec` */
  scriptDir?: string;
  /** per array task or the job itself: the ids the wrapper names its `.ec` files after */
  taskIds: string[];
}

const FINAL_PRIORITY: JobState[] = ['FAILED', 'CANCELED', 'COMPLETED'];

/** One job, or the tasks of one array, as any Slurm listing (squeue, sacct, scontrol) shows it. */
export interface TaskRow {
  /** user-visible id: `12`, or `12_3` for an array task */
  id: string;
  state: string;
  reason: string;
  command: string;
}

/**
 * An array is QUEUED/ACTIVE while any task is; once every listed task is final it is FAILED if any
 * failed, else CANCELED if any was, else COMPLETED. A plain job is the one-row case.
 */
export function summariseTasks(rows: TaskRow[]): SlurmJobSummary {
  const states = rows.map(row => slurmStateToModel(row.state));
  const live = states.includes('ACTIVE')
    ? 'ACTIVE'
    : states.includes('QUEUED')
      ? 'QUEUED'
      : undefined;
  const state = live ?? FINAL_PRIORITY.find(s => states.includes(s)) ?? 'COMPLETED';
  const representative = rows[states.indexOf(state)];
  const reason = representative.reason === 'None' ? '' : representative.reason;
  return {
    state,
    nativeState: representative.state,
    reason: reason || undefined,
    scriptDir: scriptDirectory(representative.command),
    taskIds: rows.map(row => row.id)
  };
}

/** squeue rows grouped by the native id we track: a plain job's id, or an array's master id. */
export function summariseSqueue(rows: SqueueRow[]): Map<string, SlurmJobSummary> {
  const groups = new Map<string, SqueueRow[]>();
  for (const row of rows) {
    const key = row.arrayTaskId === undefined ? row.id : row.arrayJobId;
    const group = groups.get(key);
    if (group) {
      group.push(row);
    } else {
      groups.set(key, [row]);
    }
  }
  return new Map([...groups].map(([key, group]) => [key, summariseTasks(group)]));
}

function scriptDirectory(command: string): string | undefined {
  const slash = command.lastIndexOf('/');
  return command.startsWith('/') && slash > 0 ? command.slice(0, slash) : undefined;
}
