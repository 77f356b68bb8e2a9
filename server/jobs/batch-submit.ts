import type { JobSpec } from '../../src/protocol/jobs.js';
import type { CommandResult, CommandRunner } from './adapter.js';
import { SubmitError } from './adapter.js';
import type { SiteConfig } from './sites.js';
import { siteProblems } from './sites.js';
import { classifySubmitFailure } from './submit-errors.js';

// What the batch adapters (Slurm, PBS Pro) share around a submission: the local checks, running
// sbatch/qsub, and turning a refusal into a classified SubmitError with the scheduler's reason.

const CAPACITY_RETRY_MS = 5 * 60_000;

export function batchProblems(spec: JobSpec, site: SiteConfig): string[] {
  const problems = siteProblems(spec, site);
  const tasks = spec.arrayTasks;
  if (tasks !== undefined && !(Number.isInteger(tasks) && tasks > 0)) {
    problems.push(`arrayTasks must be a positive integer, not ${tasks}`);
  }
  return problems;
}

/** Runs the submit command; its stdout, or a SubmitError classified from what it printed. */
export async function runSubmitCommand(
  runner: CommandRunner,
  scheduler: 'slurm' | 'pbs',
  command: string,
  args: string[],
  timeoutMs?: number
): Promise<string> {
  let result: CommandResult;
  try {
    result = await runner.run(command, args, { timeoutMs });
  } catch (err) {
    // our own timeout, or the command could not be started
    throw new SubmitError('transient', err instanceof Error ? err.message : String(err));
  }
  if (result.code === 0) {
    return result.stdout;
  }
  const message = commandMessage(result.stderr || result.stdout, command);
  const errorClass = classifySubmitFailure(scheduler, message);
  throw new SubmitError(
    errorClass,
    message,
    errorClass === 'capacity' ? CAPACITY_RETRY_MS : undefined
  );
}

/**
 * A scheduler command's complaint without its boilerplate: `sbatch: error: Batch job submission
 * failed: <reason>` and `qsub: <reason>` both become `<reason>` (every line kept).
 */
export function commandMessage(stderr: string, command: string): string {
  const lines = stderr
    .split('\n')
    .map(line =>
      line
        .replace(new RegExp(`^${command}: (error: )?`), '')
        .replace(/^Batch job submission failed: /, '')
        .trim()
    )
    .filter(line => line !== '');
  return lines.join('; ') || `${command} failed without a message`;
}
