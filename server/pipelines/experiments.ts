import fs from 'node:fs';
import path from 'node:path';
import { isInside } from '../files/roots.js';

// Experiment folders: a folder inside the Jupyter root whose sub-folders holding a `scan.json`
// are its scans. User paths are confined to the root like every other path the server takes.

export class ExperimentNotFoundError extends Error {}

export interface Experiment {
  /** canonical path relative to the root ('' for the root itself) */
  relative: string;
  /** canonical absolute path */
  dir: string;
}

export function resolveExperiment(root: string, experiment: string): Experiment {
  const notFound = new ExperimentNotFoundError(`experiment folder ${experiment} not found`);
  if (experiment.includes('\0') || path.isAbsolute(experiment)) {
    throw notFound;
  }
  let realRoot: string;
  let dir: string;
  try {
    realRoot = fs.realpathSync(root);
    dir = fs.realpathSync(path.join(realRoot, experiment));
  } catch {
    throw notFound;
  }
  if ((dir !== realRoot && !isInside(realRoot, dir)) || !fs.statSync(dir).isDirectory()) {
    throw notFound;
  }
  return { relative: path.relative(realRoot, dir).split(path.sep).join('/'), dir };
}

export const SCAN_FILE = 'scan.json';

export function isScan(experimentDir: string, name: string): boolean {
  return fs.existsSync(path.join(experimentDir, name, SCAN_FILE));
}

/** Scan folder names, sorted. */
export function listScans(experimentDir: string): string[] {
  return fs
    .readdirSync(experimentDir, { withFileTypes: true })
    .filter(e => e.isDirectory() && !e.name.startsWith('.') && isScan(experimentDir, e.name))
    .map(e => e.name)
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}
