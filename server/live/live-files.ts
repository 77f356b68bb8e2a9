import { watch, type FSWatcher } from 'chokidar';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { Roots } from '../files/roots.js';
import { isFrameFile } from '../pipelines/steps/frames.js';
import { logToStderr } from '../process-guards.js';

// Files someone is looking at, watched for changes (chokidar: inotify on Linux) so that open
// panels refresh while an acquisition appends frames. Reading needs nothing more: the workers
// key open handles on (realpath, mtime, size), so the next request after a change reopens the
// file (server/hdf5/handles.ts) — for SWMR writers too, since h5wasm has no file-level refresh
// and new frames change the file's size.
//
// A burst of writes (one frame = several HDF5 writes and a flush) gives one notification,
// QUIET_MS after its last write; a file written without pause is notified every MAX_WAIT_MS.

const QUIET_MS = 100;
const MAX_WAIT_MS = 1000;
/** watched files at most; the least recently requested is dropped first */
const MAX_WATCHED = 512;

export interface LiveFilesEvents {
  /** `file` as clients name it (the h5grove `file` parameter) */
  changed: [string];
}

export class LiveFiles extends EventEmitter<LiveFilesEvents> {
  // depth 0: a watched folder of frame files reports the files in it, not in its subfolders
  private readonly watcher: FSWatcher = watch([], {
    ignoreInitial: true,
    persistent: true,
    depth: 0
  });
  /** real path → the names clients used for it, in request order (oldest first) */
  private readonly names = new Map<string, Set<string>>();
  private readonly pending = new Map<string, { timer: NodeJS.Timeout; since: number }>();

  constructor(private readonly roots: Roots) {
    super();
    const notify = (realPath: string): void => {
      this.pending.delete(realPath);
      for (const name of this.names.get(realPath) ?? []) {
        this.emit('changed', name);
      }
    };
    const changed = (changedPath: string): void => {
      // a frame file added to, rewritten in or removed from a watched folder changes the folder's stack
      const realPath =
        !this.names.has(changedPath) && isFrameFile(changedPath)
          ? path.dirname(changedPath)
          : changedPath;
      if (!this.names.has(realPath)) {
        return;
      }
      const pending = this.pending.get(realPath);
      if (pending && Date.now() - pending.since >= MAX_WAIT_MS - QUIET_MS) {
        return;
      }
      clearTimeout(pending?.timer);
      this.pending.set(realPath, {
        timer: setTimeout(() => notify(realPath), QUIET_MS),
        since: pending?.since ?? Date.now()
      });
    };
    this.watcher.on('change', changed);
    this.watcher.on('add', changed);
    this.watcher.on('unlink', changed);
    // inotify instances and watches are counted per user (EMFILE/ENOSPC once every process of the
    // account holds its share): such a file only goes without change notifications, and a later
    // request tries again. Unheard, chokidar's 'error' would end the server.
    this.watcher.on('error', err => {
      logToStderr(`not watching for changes: ${err instanceof Error ? err.message : String(err)}`);
      const failed = (err as NodeJS.ErrnoException).path;
      if (failed !== undefined) {
        this.names.delete(failed);
      }
    });
  }

  /**
   * Watch the file, or folder of frame files, behind `file` (a client's request); unknown or
   * outside paths are ignored.
   */
  async watch(file: string): Promise<void> {
    const realPath =
      (await this.roots.resolve(file).then(
        resolved => resolved.realPath,
        () => undefined
      )) ?? (await this.roots.resolveDirectory(file).catch(() => null));
    if (!realPath) {
      return;
    }
    const names = this.names.get(realPath);
    this.names.delete(realPath);
    this.names.set(realPath, (names ?? new Set()).add(file));
    if (!names) {
      this.watcher.add(realPath);
    }
    while (this.names.size > MAX_WATCHED) {
      const oldest = this.names.keys().next().value as string;
      this.names.delete(oldest);
      void this.watcher.unwatch(oldest);
    }
  }

  async close(): Promise<void> {
    for (const { timer } of this.pending.values()) {
      clearTimeout(timer);
    }
    await this.watcher.close();
  }
}
