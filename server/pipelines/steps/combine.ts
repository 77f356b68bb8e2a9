// combine: sums the v and n of every transform part and normalises (the transform's merge) →
// nexus/transform.nxs, whose default NXdata is the (H, K, L) volume.
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../../transform/input-error.js';
import { mergeTransforms } from '../../transform/merge.js';
import { appendProcess, clearOutput, commitOutput, partialPath, progress } from './output.js';
import { requireInput, scanPaths } from './scan.js';

const PART_NAME = /^transform-part-(\d+)-of-(\d+)\.nxs$/;

/** The parts of one split: --parts N, else the only N present. */
function partFiles(nexusDir: string, parts?: number): string[] {
  const found = (fs.existsSync(nexusDir) ? fs.readdirSync(nexusDir) : [])
    .map(name => PART_NAME.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map(m => ({ index: Number(m[1]), count: Number(m[2]) }));
  const counts = [...new Set(found.map(p => p.count))];
  const count = parts ?? counts[0];
  if (count === undefined) {
    throw new InputError(`no transform parts in ${nexusDir}: run the transform step first`);
  }
  if (parts === undefined && counts.length > 1) {
    throw new InputError(
      `${nexusDir} holds parts of several splits (${counts.join(', ')} parts); pass --parts`
    );
  }
  const missing = Array.from({ length: count }, (_, i) => i).filter(
    i => !found.some(p => p.index === i && p.count === count)
  );
  if (missing.length > 0) {
    throw new InputError(
      `transform parts ${missing.join(', ')} of ${count} are missing in ${nexusDir}: rerun those transform tasks`
    );
  }
  return Array.from({ length: count }, (_, i) =>
    path.join(nexusDir, `transform-part-${i}-of-${count}.nxs`)
  );
}

export async function combine(
  scanDir: string,
  options: { parts?: number },
  command: string
): Promise<void> {
  const paths = scanPaths(scanDir);
  requireInput(paths.prepare, 'prepare');
  const parts = partFiles(paths.nexus, options.parts);
  clearOutput(paths.transform);
  await mergeTransforms(
    { file: partialPath(paths.transform), path: '/entry/transform' },
    parts.map(file => ({ file, path: '/entry/transform' })),
    command
  );
  appendProcess(partialPath(paths.transform), {
    step: 'combine',
    command,
    parameters: { parts: parts.length },
    inputs: parts
  });
  commitOutput(paths.transform);
  progress('combine', `${parts.length} parts merged into ${paths.transform}`);
}
