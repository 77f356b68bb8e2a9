// h5wasm for the command-line transform on the main thread (metadata, small datasets, the
// output; frames are decompressed by workers), errors thrown rather than printed, compression
// plugins found where the workers find them.
import fs from 'node:fs';
import path from 'node:path';
import { Dataset, File, Module, ready } from 'h5wasm/node';
import { workerLocation } from '../hdf5/worker-location.js';
import { InputError } from './input-error.js';

/** "FILE#/path/in/file", the CCTW notation for a dataset or group in a file. */
export interface H5Url {
  file: string;
  path: string;
}

export function parseH5Url(url: string, what: string): H5Url {
  const hash = url.lastIndexOf('#');
  if (hash <= 0 || hash === url.length - 1) {
    throw new InputError(`${what} "${url}" must be FILE#/path/inside/the/file`);
  }
  const inner = url.slice(hash + 1);
  return {
    file: path.resolve(url.slice(0, hash)),
    path: inner.startsWith('/') ? inner : `/${inner}`
  };
}

export function formatH5Url(url: H5Url): string {
  return `${url.file}#${url.path}`;
}

/** h5wasm cannot hold one file open for reading and writing at once: outputs go to other files. */
export function refuseSameFile(output: H5Url, inputs: H5Url[], what: string): void {
  const real = (file: string): string => (fs.existsSync(file) ? fs.realpathSync(file) : file);
  const clash = inputs.find(i => real(i.file) === real(output.file));
  if (clash) {
    throw new InputError(
      `the output must be written to another file than the ${what} (${clash.file})`
    );
  }
}

let initialised: Promise<void> | undefined;

export function initHdf5(): Promise<void> {
  initialised ??= (async () => {
    await ready;
    Module.activate_throwing_error_handler();
    Module.insert_plugin_search_path(workerLocation().pluginDir, 0);
  })();
  return initialised;
}

export function openForReading(file: string): File {
  if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile()) {
    throw new InputError(`file not found: ${file}`);
  }
  try {
    return new File(file, 'r');
  } catch (e) {
    throw new InputError(`cannot open ${file} as HDF5: ${(e as Error).message.split('\n')[0]}`);
  }
}

export function requireDataset(file: File, url: H5Url, what: string): Dataset {
  const entity = file.get(url.path);
  if (!(entity instanceof Dataset)) {
    throw new InputError(`${what} ${formatH5Url(url)} is not a dataset`);
  }
  return entity;
}

/** A whole small dataset (mask, weights) as float64, checked against the expected shape. */
export function readSmallDataset(url: H5Url, what: string, shape: number[]): Float64Array {
  const file = openForReading(url.file);
  try {
    const ds = requireDataset(file, url, what);
    const actual = ds.shape ?? [];
    if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
      throw new InputError(
        `${what} ${formatH5Url(url)} has shape (${actual}), expected (${shape})`
      );
    }
    return Float64Array.from(ds.value as ArrayLike<number | bigint>, Number);
  } finally {
    file.close();
  }
}
