import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { DirectoryEntry } from '../../src/protocol/sites.js';
import type { Roots } from './roots.js';

// GET /ls?path=: one directory inside the roots, for browsing a site (local, or a remote one
// through its forwarded channel). Hidden entries are left out, like Jupyter's file browser.

export async function listDirectory(roots: Roots, dir: string): Promise<DirectoryEntry[]> {
  const real = await roots.resolveDirectory(dir);
  if (real === null) {
    return roots.names.map(name => ({ name, kind: 'directory', size: 0, mtimeMs: 0 }));
  }
  const names = (await fsp.readdir(real)).filter(n => !n.startsWith('.')).sort();
  const entries: DirectoryEntry[] = [];
  for (const name of names) {
    const st = await fsp.stat(path.join(real, name)).catch(() => undefined);
    if (st?.isDirectory() || st?.isFile()) {
      entries.push({
        name,
        kind: st.isDirectory() ? 'directory' : 'file',
        size: st.size,
        mtimeMs: st.mtimeMs
      });
    }
  }
  return entries;
}
