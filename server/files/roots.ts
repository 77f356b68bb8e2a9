import { promises as fsp, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { HttpError } from '../http/errors.js';

// Confinement of user-supplied `file` values to the served roots (h5grove-protocol.md §9).
//
// Naming rule: with one root, `file` is relative to it. With several roots, the first path
// segment of `file` must be the basename of one of the roots (`data/run1/x.h5` → root `…/data`),
// and the rest is relative to that root. Root basenames must therefore be unique.
//
// HDF5 external links and VDS sources are followed by libhdf5 itself and may reach files
// outside the roots (h5grove-protocol.md §9.4). We accept that on purpose: the server runs as
// the user, who can read those files anyway, and NXRefine/NXmx wrapper files depend on it.
//
// Every violation answers 404 `File not found!` so that nothing about the filesystem leaks.
// Nothing is cached: roots and symlinks may change between requests.

const NOT_FOUND = 'File not found!';

export interface ResolvedFile {
  /** canonical absolute path (symlinks resolved), inside a root */
  realPath: string;
  mtimeMs: number;
  size: number;
  basename: string;
}

export class Roots {
  private readonly byName = new Map<string, string>();

  constructor(readonly dirs: string[]) {
    if (dirs.length === 0) {
      throw new Error('at least one root is required');
    }
    for (const dir of dirs) {
      const name = path.basename(path.resolve(dir));
      if (this.byName.has(name)) {
        throw new Error(`two roots share the basename ${name}`);
      }
      this.byName.set(name, path.resolve(dir));
    }
  }

  /** Pick the root and the path relative to it; pure string work, no filesystem access. */
  private split(file: string): { root: string; rel: string } {
    if (this.dirs.length === 1) {
      return { root: path.resolve(this.dirs[0]), rel: file };
    }
    const [first, ...rest] = file.split('/');
    const root = this.byName.get(first);
    if (root === undefined || rest.length === 0) {
      throw new HttpError(404, NOT_FOUND);
    }
    return { root, rel: rest.join('/') };
  }

  /**
   * Resolve a directory (same naming rule as files; '' is the top: the single root, or with
   * several roots null, meaning "list the root names") to its canonical path, or throw 404.
   */
  async resolveDirectory(dir: string): Promise<string | null> {
    if (dir === '' && this.dirs.length > 1) {
      return null;
    }
    if (dir.includes('\0') || path.isAbsolute(dir) || dir.startsWith('\\')) {
      throw new HttpError(404, NOT_FOUND);
    }
    const { root, rel } =
      this.dirs.length > 1 && !dir.includes('/')
        ? { root: this.byName.get(dir), rel: '' }
        : this.split(dir);
    if (root === undefined) {
      throw new HttpError(404, NOT_FOUND);
    }
    try {
      const realRoot = await fsp.realpath(root);
      const realPath = await fsp.realpath(path.join(realRoot, rel));
      if (realPath !== realRoot && !isInside(realRoot, realPath)) {
        throw new HttpError(404, NOT_FOUND);
      }
      if (!(await fsp.stat(realPath)).isDirectory()) {
        throw new HttpError(404, NOT_FOUND);
      }
      return realPath;
    } catch {
      throw new HttpError(404, NOT_FOUND);
    }
  }

  /** Names of the roots, as the first segment of paths when there are several. */
  get names(): string[] {
    return [...this.byName.keys()];
  }

  /** Resolve `file` to a readable regular file inside a root, or throw 404/403. */
  async resolve(file: string | undefined): Promise<ResolvedFile> {
    if (
      file === undefined ||
      file === '' ||
      file.includes('\0') ||
      path.isAbsolute(file) ||
      file.startsWith('\\')
    ) {
      throw new HttpError(404, NOT_FOUND);
    }
    const { root, rel } = this.split(file);
    let realRoot: string;
    let realPath: string;
    try {
      realRoot = await fsp.realpath(root);
      realPath = await fsp.realpath(path.join(realRoot, rel));
    } catch {
      throw new HttpError(404, NOT_FOUND);
    }
    if (!isInside(realRoot, realPath)) {
      throw new HttpError(404, NOT_FOUND);
    }
    let st;
    try {
      st = await fsp.stat(realPath);
    } catch {
      throw new HttpError(404, NOT_FOUND);
    }
    if (!st.isFile()) {
      throw new HttpError(404, NOT_FOUND);
    }
    try {
      await fsp.access(realPath, fsConstants.R_OK);
    } catch {
      throw new HttpError(403, 'Cannot read file: Permission denied!');
    }
    return { realPath, mtimeMs: st.mtimeMs, size: st.size, basename: path.basename(file) };
  }
}

/** Segment-boundary containment: `/data` does not contain `/data2/x`. */
export function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel !== '' && !path.isAbsolute(rel) && rel.split(path.sep)[0] !== '..';
}
