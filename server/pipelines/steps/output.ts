// How a step writes its output: into a temporary file renamed into place at the end, so a
// failed or interrupted step never leaves a half-written file that looks done; and with an
// NXprocess recording program, version, date, parameters and inputs.
import fs from 'node:fs';
import path from 'node:path';
import { File, Group } from 'h5wasm/node';
import pkg from '../../../package.json' with { type: 'json' };
import { ensureGroup } from '../../transform/nexus-output.js';

export const PROGRAM = 'nexus-reduce';

export interface Provenance {
  step: string;
  command: string;
  parameters: Record<string, unknown>;
  inputs: string[];
}

export function writeProcess(entry: Group, record: Provenance): void {
  const process = ensureGroup(entry, 'process', 'NXprocess');
  process.create_dataset({ name: 'program', data: PROGRAM });
  process.create_dataset({ name: 'version', data: pkg.version });
  process.create_dataset({ name: 'date', data: new Date().toISOString() });
  process.create_dataset({ name: 'step', data: record.step });
  process.create_dataset({ name: 'command', data: record.command });
  const parameters = ensureGroup(process, 'parameters', 'NXparameters');
  parameters.create_dataset({ name: 'json', data: JSON.stringify(record.parameters) });
  process.create_dataset({ name: 'inputs', data: JSON.stringify(record.inputs) });
}

/** Adds the step's NXprocess to entry/ of a file another writer made (the transform's). */
export function appendProcess(file: string, record: Provenance): void {
  const root = new File(file, 'a');
  try {
    writeProcess(ensureGroup(root, 'entry', 'NXentry'), record);
  } finally {
    root.close();
  }
}

/** The `<file>.partial` path a step writes before `commitOutput` renames it into place. */
export function partialPath(file: string): string {
  return `${file}.partial`;
}

export function commitOutput(file: string): void {
  fs.renameSync(partialPath(file), file);
}

/** Removes the previous output and any leftover partial one, so a rerun starts clean. */
export function clearOutput(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.rmSync(file, { force: true });
  fs.rmSync(partialPath(file), { force: true });
}

/** Creates `file` (an NXentry `entry` is made default) through `write`, atomically. */
export async function writeNexusFile(
  file: string,
  write: (entry: Group, root: File) => void | Promise<void>
): Promise<void> {
  clearOutput(file);
  const root = new File(partialPath(file), 'w');
  try {
    root.create_attribute('default', 'entry');
    await write(ensureGroup(root, 'entry', 'NXentry'), root);
  } catch (e) {
    root.close();
    fs.rmSync(partialPath(file), { force: true });
    throw e;
  }
  root.close();
  commitOutput(file);
}

export function writeJsonFile(file: string, value: unknown): void {
  clearOutput(file);
  fs.writeFileSync(partialPath(file), JSON.stringify(value, null, 2) + '\n');
  commitOutput(file);
}

/** Progress for the job log: one line per event on stderr. */
export function progress(step: string, message: string): void {
  process.stderr.write(`${step}: ${message}\n`);
}
