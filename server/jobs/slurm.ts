import os from 'node:os';
import type {
  AdapterCapabilities,
  AdapterJob,
  CommandResult,
  PolledStatus,
  SubmitResult
} from './adapter.js';
import { BatchAdapter } from './batch-adapter.js';
import { commandMessage } from './batch-submit.js';
import { statusFromExitFiles } from './exit-files.js';
import { readExitCode, writeJobScript } from './script.js';
import { queueOf } from './sites.js';
import {
  isHopelessPendingReason,
  parseExitCode,
  parseSacct,
  parseSbatchParsable,
  parseScontrolJobs,
  parseSlurmVersion,
  parseSqueue,
  SACCT_FIELDS,
  SQUEUE_FORMAT,
  squeueSupportsMe,
  summariseSqueue,
  summariseTasks,
  type SlurmJobSummary,
  type SlurmVersion
} from './slurm-parse.js';
import { formatWalltime } from './walltime.js';

// Slurm adapter (scheduler reference §3): sbatch --parsable, one `squeue --me` listing per poll for
// every tracked job, sacct for jobs squeue has forgotten when the site keeps accounting, else
// scontrol and finally the wrapper's `.ec` file. Capacity refusals come back after a pause.

// sacct's default window starts at midnight; look back far enough for any job we still track.
const SACCT_LOOKBACK_DAYS = 60;

interface SiteProbe {
  version: SlurmVersion;
  sacct: boolean;
}

export class SlurmAdapter extends BatchAdapter {
  readonly kind = 'slurm';
  private probed?: Promise<SiteProbe>;
  private sacctKnown?: boolean;

  capabilities(): AdapterCapabilities {
    return { arrays: true, dependencies: true, history: this.sacctKnown ?? false };
  }

  protected async submitOnce(job: AdapterJob): Promise<SubmitResult> {
    const isArray = job.spec.arrayTasks !== undefined;
    const script = writeJobScript(job, {
      setup: this.site.setup,
      nativeIdExpr: isArray ? '${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}' : '${SLURM_JOB_ID}',
      taskIndexExpr: isArray ? '${SLURM_ARRAY_TASK_ID}' : undefined
    });
    const submitTime = new Date().toISOString();
    const args = [...this.sbatchArguments(job), script];
    const stdout = await this.submitCommand('sbatch', args);
    return { nativeId: parseSbatchParsable(stdout), submitTime };
  }

  /** The sbatch options for a job (the script path comes last). */
  sbatchArguments(job: AdapterJob): string[] {
    const { spec, jobDir } = job;
    const args = ['--parsable', '-J', `nexus-${job.tag}`, `--comment=${job.tag}`];
    const queueName = spec.attributes?.queue ?? this.site.defaultQueue;
    const queue = queueOf(spec, this.site);
    if (queue?.kind === 'qos') {
      args.push('-q', queue.name);
      if (queue.partition) {
        args.push('-p', queue.partition);
      }
    } else if (queueName !== undefined) {
      args.push('-p', queueName);
    }
    const account = spec.attributes?.account ?? this.site.defaultAccount;
    if (account) {
      args.push('-A', account);
    }
    if (spec.attributes?.durationSeconds !== undefined) {
      args.push('-t', formatWalltime(spec.attributes.durationSeconds));
    }
    const resources = spec.resources ?? {};
    if (resources.nodes !== undefined) {
      args.push('-N', String(resources.nodes));
    }
    if (resources.processes !== undefined) {
      args.push('-n', String(resources.processes));
    }
    if (resources.coresPerProcess !== undefined) {
      args.push('-c', String(resources.coresPerProcess));
    }
    if (resources.gpus !== undefined) {
      args.push(`--gpus=${resources.gpus}`);
    }
    if (resources.memoryMb !== undefined) {
      args.push(`--mem=${resources.memoryMb}M`);
    }
    const isArray = spec.arrayTasks !== undefined;
    if (isArray) {
      args.push(`--array=0-${spec.arrayTasks! - 1}`);
    }
    if (job.afterOkNative && job.afterOkNative.length > 0) {
      // without it a job whose dependency failed stays PENDING forever (reference §3.5)
      args.push(`--dependency=afterok:${job.afterOkNative.join(':')}`, '--kill-on-invalid-dep=yes');
    }
    // The wrapper sends the payload's output to its own files; these only catch Slurm's messages.
    const pattern = isArray ? 'slurm-%A_%a' : 'slurm-%j';
    args.push('-o', `${jobDir}/${pattern}.out`, '-e', `${jobDir}/${pattern}.err`);
    args.push(`--chdir=${jobDir}`);
    args.push(...(spec.attributes?.customOptions ?? []));
    return args;
  }

  async find(job: AdapterJob): Promise<SubmitResult | undefined> {
    const name = `nexus-${job.tag}`;
    const rows = parseSqueue((await this.squeue()).stdout).filter(row => row.name === name);
    if (rows.length > 0) {
      const row = rows[0];
      return {
        nativeId: row.arrayTaskId === undefined ? row.id : row.arrayJobId,
        submitTime: new Date(row.submitTime).toISOString()
      };
    }
    if (!(await this.probe()).sacct) {
      return undefined;
    }
    const result = await this.command('sacct', [
      '-X',
      '-P',
      '-n',
      '-o',
      SACCT_FIELDS,
      `--name=${name}`,
      '-S',
      sacctStart()
    ]);
    const found = result.code === 0 ? parseSacct(result.stdout)[0] : undefined;
    return found
      ? {
          nativeId: found.id.split('_')[0],
          submitTime: new Date(found.submitTime).toISOString()
        }
      : undefined;
  }

  async poll(nativeIds: string[]): Promise<PolledStatus[]> {
    if (nativeIds.length === 0) {
      return [];
    }
    const result = await this.squeue();
    if (result.code !== 0) {
      throw new Error(`squeue failed: ${commandMessage(result.stderr, 'squeue')}`);
    }
    const summaries = summariseSqueue(parseSqueue(result.stdout));
    return nativeIds.map(nativeId => {
      const summary = summaries.get(nativeId);
      return summary ? statusFromSummary(nativeId, summary) : { nativeId, missing: true };
    });
  }

  async resolveMissing(nativeId: string, jobDir: string): Promise<PolledStatus> {
    if ((await this.probe()).sacct) {
      const result = await this.command('sacct', [
        '-X',
        '-P',
        '-n',
        '-D',
        '-o',
        SACCT_FIELDS,
        '-j',
        nativeId,
        '-S',
        sacctStart()
      ]);
      const rows = result.code === 0 ? parseSacct(result.stdout) : [];
      // ids are reused after a controller reset: keep the newest submission of each id
      const latest = new Map(
        rows.sort((a, b) => a.submitTime.localeCompare(b.submitTime)).map(r => [r.id, r])
      );
      if (latest.size > 0) {
        const summary = summariseTasks(
          [...latest.values()].map(r => ({ id: r.id, state: r.state, reason: '', command: '' }))
        );
        const exitCodes = [...latest.values()].map(r => r.exitCode?.exit);
        return statusFromSummary(nativeId, summary, jobDir, exitCodes);
      }
    }
    const scontrol = await this.command('scontrol', ['show', 'job', '-o', nativeId]);
    if (scontrol.code === 0) {
      const records = parseScontrolJobs(scontrol.stdout);
      if (records.length > 0) {
        const summary = summariseTasks(
          records.map(r => ({
            id:
              r.ArrayTaskId && r.ArrayTaskId !== 'N/A'
                ? `${r.ArrayJobId}_${r.ArrayTaskId}`
                : r.JobId,
            state: r.JobState,
            reason: r.Reason ?? '',
            command: r.Command ?? ''
          }))
        );
        const exitCodes = records.map(r => parseExitCode(r.ExitCode ?? '')?.exit);
        return statusFromSummary(nativeId, summary, jobDir, exitCodes);
      }
    }
    return statusFromExitFiles(
      nativeId,
      jobDir,
      'Slurm',
      id => id === nativeId || id.startsWith(`${nativeId}_`)
    );
  }

  async cancel(nativeId: string): Promise<void> {
    const result = await this.command('scancel', [nativeId]);
    if (result.code !== 0) {
      throw new Error(`scancel ${nativeId}: ${commandMessage(result.stderr, 'scancel')}`);
    }
  }

  /** Slurm release and whether sacct has accounting behind it: asked once per site. */
  probe(): Promise<SiteProbe> {
    this.probed ??= (async () => {
      const versionOutput = await this.command('sinfo', ['--version']);
      const version = parseSlurmVersion(versionOutput.stdout);
      const sacct = (await this.command('sacct', ['-X', '-n', '-j', '1'])).code === 0;
      this.sacctKnown = sacct;
      return { version, sacct };
    })();
    this.probed.catch(() => (this.probed = undefined));
    return this.probed;
  }

  private async squeue(): Promise<CommandResult> {
    const { version } = await this.probe();
    const who = squeueSupportsMe(version) ? ['--me'] : ['-u', os.userInfo().username];
    return this.command('squeue', ['-h', '-r', '-t', 'all', ...who, '-o', SQUEUE_FORMAT]);
  }
}

function sacctStart(): string {
  const start = new Date(Date.now() - SACCT_LOOKBACK_DAYS * 86_400_000);
  return start.toISOString().slice(0, 19);
}

/**
 * The model status of a summarised job. Exit codes come from the caller (sacct) or else from the
 * wrapper's `.ec` files next to the batch script — squeue itself has no exit-code field.
 */
function statusFromSummary(
  nativeId: string,
  summary: SlurmJobSummary,
  jobDir?: string,
  knownExitCodes?: (number | undefined)[]
): PolledStatus {
  const status: PolledStatus = {
    nativeId,
    state: summary.state,
    nativeState: summary.nativeState
  };
  if (summary.state === 'QUEUED' || summary.state === 'ACTIVE') {
    if (summary.reason) {
      status.message = summary.reason;
      if (summary.state === 'QUEUED' && isHopelessPendingReason(summary.reason)) {
        status.stuck = true;
      }
    }
    return status;
  }
  const dir = summary.scriptDir ?? jobDir;
  const exitCodes =
    knownExitCodes ?? summary.taskIds.map(id => (dir ? readExitCode(dir, id) : undefined));
  if (summary.state === 'COMPLETED') {
    status.exitCode = 0;
  } else if (summary.state === 'FAILED') {
    const failed = exitCodes.findIndex(code => code !== undefined && code !== 0);
    status.exitCode = exitCodes[failed];
    const task = summary.taskIds[failed]?.split('_')[1];
    status.message = (task === undefined ? '' : `task ${task}: `) + failureMessage(summary);
  } else if (summary.reason === 'DependencyNeverSatisfied') {
    // Slurm cancelled it (--kill-on-invalid-dep), not us: its dependency did not complete
    status.state = 'FAILED';
    status.message = 'a dependency did not complete (DependencyNeverSatisfied)';
  } else {
    status.message = 'cancelled';
  }
  return status;
}

function failureMessage(summary: SlurmJobSummary): string {
  const word = summary.nativeState.split(/\s+/)[0];
  switch (word) {
    case 'TIMEOUT':
      return 'time limit exceeded';
    case 'OUT_OF_MEMORY':
      return 'out of memory';
    case 'NODE_FAIL':
      return 'node failure';
    case 'PREEMPTED':
      return 'preempted';
    default:
      return summary.reason && summary.reason !== 'NonZeroExitCode'
        ? summary.reason
        : 'non-zero exit status';
  }
}
