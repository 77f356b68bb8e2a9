import type { JobSpec } from '../../src/protocol/jobs.js';
import type {
  AdapterCapabilities,
  AdapterJob,
  CommandResult,
  CommandRunner,
  PolledStatus,
  SchedulerAdapter,
  SubmitResult
} from './adapter.js';
import { batchProblems, runSubmitCommand } from './batch-submit.js';
import { ProcessCommandRunner } from './command.js';
import type { SiteConfig } from './sites.js';
import { UncertainSubmissions } from './uncertain-submissions.js';

// What the batch adapters (Slurm, PBS Pro) do alike: scheduler commands through one runner with
// one timeout, the same local checks, a retried submission that first asks the scheduler whether
// the earlier try went through, and nothing to re-attach or release (the scheduler keeps the job,
// the next poll reports it). Each scheduler supplies its own commands.

export interface BatchAdapterOptions {
  site: SiteConfig;
  runner?: CommandRunner;
  /** per scheduler command */
  timeoutMs?: number;
}

export abstract class BatchAdapter implements SchedulerAdapter {
  abstract readonly kind: 'slurm' | 'pbs';
  protected readonly site: SiteConfig;
  private readonly runner: CommandRunner;
  private readonly timeoutMs?: number;
  private readonly uncertain = new UncertainSubmissions();

  constructor(options: BatchAdapterOptions) {
    this.site = options.site;
    this.runner = options.runner ?? new ProcessCommandRunner();
    this.timeoutMs = options.timeoutMs;
  }

  abstract capabilities(): AdapterCapabilities;

  validate(spec: JobSpec): string[] {
    return batchProblems(spec, this.site);
  }

  submit(job: AdapterJob): Promise<SubmitResult> {
    return this.uncertain.submit(
      job,
      j => this.find(j),
      () => this.submitOnce(job)
    );
  }

  /** One try at submitting: writes the job script and runs sbatch/qsub. */
  protected abstract submitOnce(job: AdapterJob): Promise<SubmitResult>;

  abstract find(job: AdapterJob): Promise<SubmitResult | undefined>;

  async attach(): Promise<void> {}

  abstract poll(nativeIds: string[]): Promise<PolledStatus[]>;

  abstract resolveMissing(nativeId: string, jobDir: string): Promise<PolledStatus>;

  abstract cancel(nativeId: string): Promise<void>;

  async close(): Promise<void> {}

  /** The submit command's stdout, or a SubmitError classified from its complaint. */
  protected submitCommand(command: string, args: string[]): Promise<string> {
    return runSubmitCommand(this.runner, this.kind, command, args, this.timeoutMs);
  }

  protected command(name: string, args: string[]): Promise<CommandResult> {
    return this.runner.run(name, args, { timeoutMs: this.timeoutMs });
  }
}
