import { File as H5File } from 'h5wasm/node';
import path from 'node:path';
import { HttpError } from '../http/errors.js';
import type { FileKey } from './messages.js';

// Per-worker cache of open files keyed by (realpath, mtime, size): a rewritten file gets a new
// key and is reopened, so data is never served stale.

const MAX_OPEN = 64;
const open = new Map<string, { key: string; file: H5File }>();

function keyOf(f: FileKey): string {
  return `${f.mtimeMs}:${f.size}`;
}

export function getFile(f: FileKey): H5File {
  const cached = open.get(f.realPath);
  const key = keyOf(f);
  if (cached && cached.key === key) {
    // refresh LRU position
    open.delete(f.realPath);
    open.set(f.realPath, cached);
    return cached.file;
  }
  if (cached) {
    closeQuietly(cached.file);
    open.delete(f.realPath);
  }
  let file: H5File;
  try {
    // SWMR read lets us look at files an acquisition is still appending to.
    file = new H5File(f.realPath, 'Sr');
  } catch {
    try {
      file = new H5File(f.realPath, 'r');
    } catch {
      // The HDF5-DIAG stack is noise to a user (and shows wasm errno values): say what it means.
      throw new HttpError(
        422,
        `Cannot open ${path.basename(f.realPath)}: not an HDF5 file, or damaged`
      );
    }
  }
  open.set(f.realPath, { key, file });
  while (open.size > MAX_OPEN) {
    const [oldest, entry] = open.entries().next().value as [string, { file: H5File }];
    closeQuietly(entry.file);
    open.delete(oldest);
  }
  return file;
}

function closeQuietly(file: H5File): void {
  try {
    file.close();
  } catch {
    // an already-broken handle must not prevent opening the new version
  }
}
