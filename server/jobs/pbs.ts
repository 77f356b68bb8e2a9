import os from 'node:os';
import type { JobSpec } from '../../src/protocol/jobs.js';
import type { AdapterCapabilities, AdapterJob, PolledStatus, SubmitResult } from './adapter.js';
import { BatchAdapter } from './batch-adapter.js';
import { commandMessage } from './batch-submit.js';
import { statusFromExitFiles } from './exit-files.js';
import {
  parseQstatJson,
  parseQsubOutput,
  pbsShortId,
  pbsStatus,
  unknownJobIds,
  type QstatJob
} from './pbs-parse.js';
import { writeJobScript } from './script.js';
import { queueOf } from './sites.js';
import { formatWalltime } from './walltime.js';

// PBS Pro adapter (scheduler reference §4): qsub, one `qstat -f -F json -x <ids…>` per poll, qdel.
// Commands run without a shell, so array ids such as `123[]` need no quoting against globbing.
// Tested on recorded outputs only: no PBS server can run here.

export class PbsAdapter extends BatchAdapter {
  readonly kind = 'pbs';

  capabilities(): AdapterCapabilities {
    // history only if the server has job_history_enable; the `.ec` file covers the rest
    return { arrays: true, dependencies: true, history: true };
  }

  protected async submitOnce(job: AdapterJob): Promise<SubmitResult> {
    const isArray = (job.spec.arrayTasks ?? 1) > 1;
    const script = writeJobScript(job, {
      setup: this.site.setup,
      nativeIdExpr: '${PBS_JOBID}',
      taskIndexExpr: isArray ? '${PBS_ARRAY_INDEX}' : job.spec.arrayTasks ? '0' : undefined
    });
    const submitTime = new Date().toISOString();
    const args = [...this.qsubArguments(job), script];
    const stdout = await this.submitCommand('qsub', args);
    return { nativeId: parseQsubOutput(stdout), submitTime };
  }

  /** The qsub options for a job (the script path comes last). */
  qsubArguments(job: AdapterJob): string[] {
    const { spec, jobDir } = job;
    const args = ['-N', jobName(job)];
    const queueName = spec.attributes?.queue ?? this.site.defaultQueue;
    if (queueName !== undefined) {
      args.push('-q', queueName);
    }
    const account = spec.attributes?.account ?? this.site.defaultAccount;
    if (account) {
      args.push('-A', account);
    }
    args.push('-l', selectStatement(spec));
    if (spec.attributes?.durationSeconds !== undefined) {
      args.push('-l', `walltime=${formatWalltime(spec.attributes.durationSeconds)}`);
    }
    const filesystems = queueOf(spec, this.site)?.filesystems;
    if (filesystems) {
      args.push('-l', `filesystems=${filesystems}`);
    }
    if ((spec.arrayTasks ?? 1) > 1) {
      args.push('-J', `0-${spec.arrayTasks! - 1}`);
    }
    if (job.afterOkNative && job.afterOkNative.length > 0) {
      args.push('-W', `depend=afterok:${job.afterOkNative.join(':')}`);
    }
    // The wrapper writes the payload's output itself; this file only catches PBS's messages.
    args.push('-j', 'oe', '-o', `${jobDir}/pbs.out`);
    args.push(...(spec.attributes?.customOptions ?? []));
    return args;
  }

  async find(job: AdapterJob): Promise<SubmitResult | undefined> {
    const selected = await this.command('qselect', [
      '-x',
      '-u',
      os.userInfo().username,
      '-N',
      jobName(job)
    ]);
    if (selected.code !== 0) {
      throw new Error(`qselect failed: ${commandMessage(selected.stderr, 'qselect')}`);
    }
    const nativeId = selected.stdout
      .split('\n')
      .find(line => line.trim() !== '')
      ?.trim();
    if (nativeId === undefined) {
      return undefined;
    }
    const [found] = await this.qstat([nativeId]);
    return { nativeId, submitTime: found?.submitTime ?? new Date().toISOString() };
  }

  async poll(nativeIds: string[]): Promise<PolledStatus[]> {
    if (nativeIds.length === 0) {
      return [];
    }
    const jobs = await this.qstat(nativeIds);
    const byId = new Map<string, QstatJob>();
    for (const job of jobs) {
      byId.set(job.id, job);
      byId.set(pbsShortId(job.id), job);
    }
    return nativeIds.map(nativeId => {
      const job = byId.get(nativeId) ?? byId.get(pbsShortId(nativeId));
      if (!job) {
        return { nativeId, missing: true };
      }
      const status = pbsStatus(job);
      return { nativeId, nativeState: job.state, ...status };
    });
  }

  async resolveMissing(nativeId: string, jobDir: string): Promise<PolledStatus> {
    // The poll already asked with -x: without job history the server has forgotten it for good.
    const short = pbsShortId(nativeId);
    const arrayBase = short.endsWith('[]') ? short.slice(0, -2) : undefined;
    return statusFromExitFiles(nativeId, jobDir, 'PBS', fileId => {
      const fileShort = pbsShortId(fileId);
      return arrayBase === undefined
        ? fileShort === short
        : new RegExp(`^${arrayBase}\\[\\d+\\]$`).test(fileShort);
    });
  }

  async cancel(nativeId: string): Promise<void> {
    const result = await this.command('qdel', [nativeId]);
    if (result.code === 0) {
      return;
    }
    const message = commandMessage(result.stderr, 'qdel');
    // already gone or finishing: the poll reports its final state
    if (!/unknown job id|job has finished|request invalid for state of job/i.test(message)) {
      throw new Error(`qdel ${nativeId}: ${message}`);
    }
  }

  /** One `qstat -f -F json -x` for all ids; ids the server does not know are simply absent. */
  private async qstat(nativeIds: string[]): Promise<QstatJob[]> {
    const result = await this.command('qstat', ['-f', '-F', 'json', '-x', ...nativeIds]);
    if (result.code !== 0) {
      const otherErrors = result.stderr
        .split('\n')
        .filter(line => line.trim() !== '' && unknownJobIds(line).length === 0);
      if (otherErrors.length > 0) {
        throw new Error(`qstat failed: ${commandMessage(otherErrors.join('\n'), 'qstat')}`);
      }
    }
    return parseQstatJson(result.stdout);
  }
}

/** PBS job names must start with a letter; ours carries the tag so find() can recognise it. */
function jobName(job: AdapterJob): string {
  return `nexus-${job.tag}`;
}

/** `select=<nodes>:ncpus=<cores per node>[:ngpus=…][:mem=…]` from the PSI/J-style resources. */
function selectStatement(spec: JobSpec): string {
  const resources = spec.resources ?? {};
  const nodes = resources.nodes ?? 1;
  const parts = [`select=${nodes}`];
  if (resources.processes !== undefined || resources.coresPerProcess !== undefined) {
    const processesPerNode = Math.ceil((resources.processes ?? nodes) / nodes);
    parts.push(`ncpus=${processesPerNode * (resources.coresPerProcess ?? 1)}`);
    parts.push(`mpiprocs=${processesPerNode}`);
  }
  if (resources.gpus !== undefined) {
    parts.push(`ngpus=${resources.gpus}`);
  }
  if (resources.memoryMb !== undefined) {
    parts.push(`mem=${resources.memoryMb}mb`);
  }
  return parts.join(':');
}
