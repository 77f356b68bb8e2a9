import type { AdapterJob, SubmitResult } from './adapter.js';
import { SubmitError } from './adapter.js';

// A transient submit failure (timeout, lost connection to the controller) leaves the outcome
// unknown: sbatch or qsub may have queued the job before the answer was lost. The manager retries
// transient failures, so before the same tag is submitted again the scheduler is asked whether the
// earlier try went through; a retry then never queues a job twice.

export class UncertainSubmissions {
  private readonly tags = new Set<string>();

  async submit(
    job: AdapterJob,
    find: (job: AdapterJob) => Promise<SubmitResult | undefined>,
    submitOnce: () => Promise<SubmitResult>
  ): Promise<SubmitResult> {
    if (this.tags.has(job.tag)) {
      let found: SubmitResult | undefined;
      try {
        found = await find(job);
      } catch (err) {
        throw new SubmitError(
          'transient',
          `cannot tell whether the previous try was queued: ${err instanceof Error ? err.message : String(err)}`
        );
      }
      if (found) {
        this.tags.delete(job.tag);
        return found;
      }
    }
    try {
      const result = await submitOnce();
      this.tags.delete(job.tag);
      return result;
    } catch (err) {
      if (err instanceof SubmitError && err.errorClass === 'transient') {
        this.tags.add(job.tag);
      } else {
        this.tags.delete(job.tag);
      }
      throw err;
    }
  }
}
