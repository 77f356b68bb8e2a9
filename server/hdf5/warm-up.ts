import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { File as H5File } from 'h5wasm/node';
import type { Dataset } from 'h5wasm/node';
import { withChildHeaders } from './child-headers.js';
import { readChunksDirect } from './direct-chunk-read.js';
import { describeChildren, describeResolved, resolvePath } from './entities.js';
import type { FileKey } from './messages.js';
import { readBytes } from './reads.js';
import { toJson } from '../http/respond.js';

// A fresh worker runs its /meta and read code (JavaScript and h5wasm's WebAssembly alike) at
// first with baseline code, which V8 replaces with optimised code only after some thousands of
// calls: measured, the first /meta of a group of 20,000 members cost ~250 ms more than the
// next. The pool therefore has each worker describe and read a small generated file at start,
// in short rounds sent only while the worker has nothing else to do, so that a user's request
// waits at most one round (a few ms) and the first real /meta runs on optimised code.

const CHILDREN = 50;
/** rounds of describing CHILDREN children: ~3000 descriptions reach V8's optimising tier */
export const WARM_UP_ROUNDS = 60;
const FRAME = [4, 64, 64];

interface WarmFile {
  /** our own descriptor of the (already deleted) file, for the direct chunk reads */
  fd: number;
  key: FileKey;
  file: H5File;
  names: string[];
}

let warm: WarmFile | null = null;

/**
 * The warm-up file, open and already deleted: a server stopped in the middle of its warm-up
 * (tests start and stop many) leaves nothing behind.
 */
function create(): WarmFile {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nexus-warm-up-'));
  const filePath = path.join(dir, 'warm-up.h5');
  const names = Array.from({ length: CHILDREN }, (_, i) => `item_${i}`);
  let file: H5File | null = null;
  let fd: number | null = null;
  try {
    write(filePath, names);
    file = new H5File(filePath, 'r');
    fd = fs.openSync(filePath, 'r');
  } catch (err) {
    file?.close();
    throw err;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const st = fs.fstatSync(fd);
  // Linux reopens a deleted file through /proc; elsewhere the direct read is simply not warmed.
  const key = { realPath: `/proc/self/fd/${fd}`, mtimeMs: st.mtimeMs, size: st.size };
  return { fd, key, file, names };
}

function write(filePath: string, names: string[]): void {
  const writer = new H5File(filePath, 'w');
  try {
    const group = writer.create_group('g');
    names.forEach((name, i) => {
      const ds = group.create_dataset({ name, data: [i], shape: [], dtype: '<i4' });
      if (i % 10 === 0) {
        ds.create_attribute('units', 'counts');
      }
    });
    const count = FRAME.reduce((a, b) => a * b, 1);
    writer.create_dataset({
      name: 'stack',
      data: Int32Array.from({ length: count }, (_, i) => i % 7),
      shape: FRAME,
      dtype: '<i4',
      chunks: [1, FRAME[1], FRAME[2]],
      compression: 'gzip'
    });
  } finally {
    writer.close();
  }
}

function remove(): void {
  if (warm) {
    const { fd, file } = warm;
    warm = null;
    try {
      file.close();
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** One round of the warm-up; true once the last round is done (or a round failed). */
export function warmUpRound(round: number): boolean {
  try {
    warm ??= create();
    const { key, file, names } = warm;
    toJson(
      withChildHeaders(key, file, '/g', headers => describeChildren(file, '/g', names, headers))
    );
    toJson(describeResolved(resolvePath(file, '/stack', 'only_valid', ''), true, file));
    const stack = file.get('/stack') as Dataset;
    const row = [
      { start: round % FRAME[0], stop: (round % FRAME[0]) + 1, step: 1, drop: true },
      { start: FRAME[1] / 2, stop: FRAME[1] / 2 + 1, step: 1, drop: true },
      { start: 0, stop: FRAME[2], step: 1, drop: false }
    ];
    readChunksDirect(key, file, stack, '/stack', row);
    readBytes(stack, '/stack', row);
    if (round + 1 < WARM_UP_ROUNDS) {
      return false;
    }
    remove();
    return true;
  } catch (err) {
    remove();
    throw err;
  }
}
