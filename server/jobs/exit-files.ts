import fs from 'node:fs';
import type { PolledStatus } from './adapter.js';
import { readExitCode } from './script.js';

// The last resort once a batch scheduler has forgotten a job (no accounting or history): the
// wrapper's `<id>.started` and `<id>.ec` files in the job directory (scheduler reference §1.3).
// Absence alone never means success.

/**
 * `ownsFile(id)` says whether a file id (the part before `.ec` / `.started`) belongs to the job:
 * the job itself or one of its array tasks, whose ids each scheduler spells its own way.
 */
export function statusFromExitFiles(
  nativeId: string,
  jobDir: string,
  scheduler: string,
  ownsFile: (fileId: string) => boolean
): PolledStatus {
  let files: string[];
  try {
    files = fs.readdirSync(jobDir);
  } catch {
    return { nativeId, missing: true };
  }
  const ids = new Set(
    files
      .map(file => /^(.+)\.(?:ec|started)$/.exec(file)?.[1])
      .filter((id): id is string => id !== undefined && ownsFile(id))
  );
  if (ids.size === 0) {
    return { nativeId, missing: true };
  }
  const codes = [...ids].map(id => readExitCode(jobDir, id));
  const nonZero = codes.find(code => code !== undefined && code !== 0);
  if (nonZero !== undefined) {
    return { nativeId, state: 'FAILED', nativeState: 'exit status file', exitCode: nonZero };
  }
  if (codes.every(code => code === 0)) {
    return { nativeId, state: 'COMPLETED', nativeState: 'exit status file', exitCode: 0 };
  }
  // Started, never recorded an exit status, and the scheduler no longer knows it: it was killed
  // (time limit, cancel, node failure).
  return {
    nativeId,
    state: 'FAILED',
    nativeState: 'no exit status',
    message: `the job started but left no exit status and ${scheduler} no longer knows it`
  };
}
