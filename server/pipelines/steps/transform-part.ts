// transform: one of --parts N contiguous frame ranges (this array task's NEXUS_TASK_INDEX)
// binned onto prepare's grid by the native transform, in process →
// nexus/transform-part-<i>-of-<N>.nxs (v and n, to be summed by combine).
import fs from 'node:fs';
import os from 'node:os';
import { parseGrid } from '../../transform/grid.js';
import { parseH5Url } from '../../transform/hdf5-access.js';
import { InputError } from '../../transform/input-error.js';
import { runTransform } from '../../transform/transform.js';
import { appendProcess, clearOutput, commitOutput, partialPath, progress } from './output.js';
import type { Preparation } from './prepare.js';
import { currentSettings, requireInput, scanPaths } from './scan.js';

export interface TransformPartOptions {
  parts: number;
  threads: number;
}

const TASK_INDEX_VARIABLE = 'NEXUS_TASK_INDEX';

function taskIndex(parts: number): number {
  const value = process.env[TASK_INDEX_VARIABLE];
  if (value === undefined || value === '') {
    if (parts === 1) {
      return 0;
    }
    throw new InputError(
      `--parts ${parts} needs ${TASK_INDEX_VARIABLE} (the array task index, set by the job layer)`
    );
  }
  const index = Number(value);
  if (!Number.isInteger(index) || index < 0 || index >= parts) {
    throw new InputError(
      `${TASK_INDEX_VARIABLE}=${value} is not a task index from 0 to ${parts - 1}`
    );
  }
  return index;
}

export function readPreparation(file: string): Preparation {
  requireInput(file, 'prepare');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Preparation;
  } catch (e) {
    throw new InputError(`cannot read ${file}: ${(e as Error).message}; rerun prepare`);
  }
}

export async function transformPart(
  scanDir: string,
  options: TransformPartOptions,
  command: string
): Promise<void> {
  const paths = scanPaths(scanDir);
  const preparation = readPreparation(paths.prepare);
  const index = taskIndex(options.parts);
  const { settings, source } = currentSettings(paths);
  const output = paths.part(index, options.parts);
  clearOutput(output);
  let total = 0;
  let reported = 0;
  await runTransform({
    raw: parseH5Url(preparation.raw, 'raw stack in prepare.json'),
    geometry: { value: settings.geometry, source },
    grid: parseGrid(preparation.grid),
    output: { file: partialPath(output), path: '/entry/transform' },
    mask: preparation.mask ? parseH5Url(preparation.mask, 'mask in prepare.json') : undefined,
    subset: { index, count: options.parts },
    threads: options.threads,
    command,
    onStart: frames => {
      total = frames;
      progress('transform', `part ${index + 1} of ${options.parts}: ${frames} frames`);
    },
    onProgress: done => {
      if (done - reported >= total / 10 || done === total) {
        reported = done;
        progress('transform', `${done}/${total} frames`);
      }
    }
  });
  appendProcess(partialPath(output), {
    step: 'transform',
    command,
    parameters: { ...options, index, grid: preparation.grid },
    inputs: [
      paths.prepare,
      preparation.raw,
      source,
      ...(preparation.mask ? [preparation.mask] : [])
    ]
  });
  commitOutput(output);
}

export const defaultThreads = os.availableParallelism();
