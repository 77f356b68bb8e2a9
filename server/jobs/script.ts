import fs from 'node:fs';
import path from 'node:path';
import type { AdapterJob } from './adapter.js';
import { SubmitError } from './adapter.js';

// The wrapper job script shared by every scheduler (scheduler reference §8): it names its own
// stdout/stderr files in the job directory, leaves a `started` marker, runs the payload without a
// shell, then writes the payload's exit status to `<nativeId>.ec` through a temporary file and a
// rename, so a reader never sees a half-written status. That file is the authority once the
// scheduler has forgotten the job.

export interface JobScriptOptions {
  /** scheduler directives (`#SBATCH ...`, `#PBS ...`) placed right after the shebang */
  directives?: string[];
  /** the site's environment setup lines (`module load ...`), run before the payload */
  setup?: string[];
  /**
   * shell expression that expands, inside the running job, to the native id the manager knows the
   * job (or array task) by, e.g. `$SLURM_JOB_ID` or `${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}`
   */
  nativeIdExpr: string;
  /** shell expression for the array task index; exported as NEXUS_TASK_INDEX */
  taskIndexExpr?: string;
}

/** Printed last by the wrapper: the payload ran to its end and its status is recorded. */
export const SCRIPT_DONE_LINE = '_NEXUS_SCRIPT_DONE';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export type LogStream = 'stdout' | 'stderr';

/** Where the wrapper sends the payload's output for one native id (array tasks have their own). */
export function logPath(jobDir: string, nativeId: string, stream: LogStream): string {
  return path.join(jobDir, `${nativeId}.${stream === 'stdout' ? 'out' : 'err'}`);
}

export function exitCodePath(jobDir: string, nativeId: string): string {
  return path.join(jobDir, `${nativeId}.ec`);
}

export function startedMarkerPath(jobDir: string, nativeId: string): string {
  return path.join(jobDir, `${nativeId}.started`);
}

/** The exit status the wrapper recorded, or undefined if the payload never finished. */
export function readExitCode(jobDir: string, nativeId: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(exitCodePath(jobDir, nativeId), 'utf8').trim();
  } catch {
    return undefined;
  }
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

export function jobScript(job: AdapterJob, options: JobScriptOptions): string {
  const { spec } = job;
  if (spec.command.length === 0) {
    throw new SubmitError('spec', 'the job has no command');
  }
  const environment = Object.entries(spec.environment ?? {});
  const badName = environment.find(([name]) => !ENV_NAME.test(name));
  if (badName) {
    throw new SubmitError('spec', `invalid environment variable name: ${badName[0]}`);
  }
  const dir = shellQuote(job.jobDir);
  const lines = [
    '#!/bin/bash',
    ...(options.directives ?? []),
    `# jupyterlab-nexus job ${job.uuid}`,
    `__nexus_dir=${dir}`,
    `__nexus_id=${options.nativeIdExpr}`,
    'exec >"$__nexus_dir/$__nexus_id.out" 2>"$__nexus_dir/$__nexus_id.err"',
    `export NEXUS_JOB_UUID=${shellQuote(job.uuid)}`,
    ...(options.taskIndexExpr ? [`export NEXUS_TASK_INDEX=${options.taskIndexExpr}`] : []),
    ...(options.setup ?? []),
    ...environment.map(([name, value]) => `export ${name}=${shellQuote(value)}`),
    'date -u +%Y-%m-%dT%H:%M:%SZ >"$__nexus_dir/$__nexus_id.started"',
    // A failed cd leaves its own status (1) as the job's, rather than running in the wrong place.
    `cd ${shellQuote(spec.directory ?? job.jobDir)} && ${spec.command.map(shellQuote).join(' ')}`,
    '__nexus_ec=$?',
    'printf \'%s\\n\' "$__nexus_ec" >"$__nexus_dir/$__nexus_id.ec.tmp" && mv -f "$__nexus_dir/$__nexus_id.ec.tmp" "$__nexus_dir/$__nexus_id.ec"',
    `echo ${SCRIPT_DONE_LINE}`,
    'exit "$__nexus_ec"',
    ''
  ];
  return lines.join('\n');
}

/** Writes `job.sh` into the job directory (created if needed) and returns its path. */
export function writeJobScript(job: AdapterJob, options: JobScriptOptions): string {
  fs.mkdirSync(job.jobDir, { recursive: true });
  const file = path.join(job.jobDir, 'job.sh');
  fs.writeFileSync(file, jobScript(job, options), { mode: 0o755 });
  return file;
}
