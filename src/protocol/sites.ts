// Wire types for browsing sites and watching live files (server: server/remote/, server/live/).

/** One entry of GET /sites/:name/ls?path= (or /ls on the site itself). */
export interface DirectoryEntry {
  name: string;
  kind: 'file' | 'directory';
  size: number;
  mtimeMs: number;
}

/**
 * Global URI of a file on a site: `nexus://<site>/<path>`, the path relative to the site's roots
 * with the same naming rule as `file` (with several roots, the first segment is the root's
 * basename). Used as the h5grove `file` parameter and as the file name of an HDF5 external link.
 */
export const GLOBAL_URI_SCHEME = 'nexus://';

export interface GlobalFile {
  site: string;
  path: string;
}

/** The site and path of a global URI, or undefined if `file` is not one. */
export function parseGlobalUri(file: string): GlobalFile | undefined {
  if (!file.startsWith(GLOBAL_URI_SCHEME)) {
    return undefined;
  }
  const rest = file.slice(GLOBAL_URI_SCHEME.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) {
    return undefined;
  }
  return { site: rest.slice(0, slash), path: rest.slice(slash + 1) };
}

export function globalUri(site: string, path: string): string {
  return `${GLOBAL_URI_SCHEME}${site}/${path}`;
}

/** Pushed on /events when a file some client is looking at changed on disk. */
export interface FileChangedEvent {
  type: 'file-changed';
  /** the `file` value the client used (a root-relative path or a global URI) */
  file: string;
}
