import {
  BrokenSoftLink,
  Dataset,
  Datatype,
  ExternalLink,
  File as H5File,
  Group,
  Module
} from 'h5wasm/node';
import type { Entity, Metadata } from 'h5wasm/node';
import type {
  AttributeMetadata,
  EntityMetadata,
  ResolveLinks
} from '../../src/protocol/h5grove.js';
import { HttpError } from '../http/errors.js';
import { legacyAttributeMetadata, legacyNxdata } from './nexus-legacy.js';
import type { ChildHeaders } from './child-headers.js';
import type { GroupOutline } from './messages.js';
import { typeMetadata } from './types.js';

// Entity lookup with h5grove's resolve_links semantics (h5grove-protocol.md §6.4) and /meta
// shapes (§6.1). Runs inside a worker.

export type LinkInfo =
  | { kind: 'soft_link'; target_path: string }
  | { kind: 'external_link'; target_file: string; target_path: string };

export type Resolved =
  { entity: Group | Dataset | Datatype; name: string } | { link: LinkInfo; name: string };

export function lastSegment(path: string): string {
  const parts = path.split('/').filter(p => p !== '');
  return parts.length === 0 ? '' : parts[parts.length - 1];
}

/** The link stored under `path` if it is a soft or external link, whatever its target. */
function readLink(file: H5File, path: string): LinkInfo | null {
  try {
    const target = Module.get_symbolic_link(file.file_id, path);
    if (typeof target === 'string' && target !== '') {
      return { kind: 'soft_link', target_path: target };
    }
  } catch {
    // not a soft link
  }
  try {
    const ext = Module.get_external_link(file.file_id, path);
    if (ext && typeof ext.filename === 'string' && ext.filename !== '') {
      return { kind: 'external_link', target_file: ext.filename, target_path: ext.obj_path };
    }
  } catch {
    // not an external link
  }
  return null;
}

function getQuietly(file: H5File, path: string): Entity | null {
  try {
    return file.get(path);
  } catch {
    return null;
  }
}

export function linkRepr(link: LinkInfo): string {
  return link.kind === 'soft_link'
    ? `<SoftLink to "${link.target_path}">`
    : `<ExternalLink to "${link.target_path}" in file "${link.target_file}">`;
}

export function resolvePath(
  file: H5File,
  path: string,
  mode: ResolveLinks,
  basename: string
): Resolved {
  const name = lastSegment(path);
  if (path === '/' || path === '') {
    return { entity: file, name: '' };
  }
  const entity = getQuietly(file, path);
  if (mode === 'none') {
    const link = readLink(file, path);
    if (link) {
      return { link, name };
    }
  }
  if (entity instanceof BrokenSoftLink) {
    const link: LinkInfo = { kind: 'soft_link', target_path: entity.target };
    if (mode === 'all') {
      throw new HttpError(404, `Cannot resolve ${linkRepr(link)} at ${path} of ${basename}`);
    }
    return { link, name };
  }
  if (entity instanceof ExternalLink) {
    const link: LinkInfo = {
      kind: 'external_link',
      target_file: entity.filename,
      target_path: entity.obj_path
    };
    if (mode === 'all') {
      throw new HttpError(404, `Cannot resolve ${linkRepr(link)} at ${path} of ${basename}`);
    }
    return { link, name };
  }
  if (entity instanceof Group || entity instanceof Dataset || entity instanceof Datatype) {
    return { entity, name };
  }
  throw new HttpError(404, `${path} is not a valid path in ${basename}`);
}

export function attributesOf(entity: Group | Dataset | Datatype): AttributeMetadata[] {
  return attributesAt(entity.file_id, entity.path);
}

/**
 * Attribute metadata straight from the low-level helpers: `entity.attrs` builds an Attribute
 * object (metadata plus a dtype string) per name, which dominates /meta of large groups.
 */
function attributesAt(fileId: bigint, path: string): AttributeMetadata[] {
  const names = Module.get_attribute_names(fileId, path) as string[];
  if (names.length === 0) {
    return [];
  }
  return [...names].sort().map(name => {
    const m = Module.get_attribute_metadata(fileId, path, name);
    return { name, shape: m.shape, type: typeMetadata(m) };
  });
}

function filtersOf(ds: Dataset): { id: number; name: string }[] | null {
  const filters = ds.filters;
  return filters.length === 0 ? null : filters.map(f => ({ id: f.id, name: f.name }));
}

export function describeResolved(
  r: Resolved,
  withChildren: boolean,
  file: H5File,
  headers?: ChildHeaders
): EntityMetadata {
  if ('link' in r) {
    // keys sorted like h5grove's output
    return r.link.kind === 'soft_link'
      ? { kind: 'soft_link', name: r.name, target_path: r.link.target_path }
      : {
          kind: 'external_link',
          name: r.name,
          target_file: r.link.target_file,
          target_path: r.link.target_path
        };
  }
  const { entity, name } = r;
  if (entity instanceof Dataset) {
    const m = entity.metadata;
    return {
      attributes: attributesOf(entity),
      chunks: m.chunks ?? null,
      filters: filtersOf(entity),
      kind: 'dataset',
      name,
      shape: m.shape,
      type: typeMetadata(m)
    };
  }
  if (entity instanceof Datatype) {
    return {
      attributes: attributesOf(entity),
      kind: 'datatype',
      name,
      type: typeMetadata(entity.metadata)
    };
  }
  const group = entity as Group;
  if (!withChildren) {
    return { attributes: attributesOf(group), kind: 'group', name };
  }
  const children = describeChildren(file, group.path, group.keys(), headers);
  return { attributes: requestedGroupAttributes(group), children, kind: 'group', name };
}

/** Attributes of the group a /meta request is about, with synthesised NeXus signal/axes. */
function requestedGroupAttributes(group: Group): AttributeMetadata[] {
  const legacy = legacyNxdata(group);
  return legacy
    ? [...attributesOf(group), ...legacyAttributeMetadata(legacy)].sort((a, b) =>
        a.name < b.name ? -1 : a.name > b.name ? 1 : 0
      )
    : attributesOf(group);
}

/**
 * /meta of a group without its children, and their names: the caller describes the children
 * (in parallel, when there are many of them) and puts them in `children`.
 */
export function describeGroupOutline(r: Resolved): GroupOutline | null {
  if ('link' in r || !(r.entity instanceof Group)) {
    return null;
  }
  const group = r.entity;
  return {
    attributes: requestedGroupAttributes(group),
    name: r.name,
    path: group.path,
    childNames: group.keys()
  };
}

/** /meta of the named children of the group at `groupPath`. */
export function describeChildren(
  file: H5File,
  groupPath: string,
  names: string[],
  headers: ChildHeaders = () => null
): EntityMetadata[] {
  const base = groupPath === '/' ? '' : groupPath;
  // Children are always resolved with only_valid (the reference calls the factory without it).
  // One pass over the low-level helpers (h5wasm-notes.md §12): a child is first tried as a
  // dataset by path, which skips get_type's two H5LTpath_valid walks and the high-level
  // objects. A failed open throws (costly), so after a non-dataset child the next one goes
  // through the general lookup until a dataset turns up again.
  const children: EntityMetadata[] = [];
  let tryDataset = true;
  for (const key of names) {
    const path = `${base}/${key}`;
    const header = headers(key);
    if (header?.dataset) {
      const { shape, metadata } = header.dataset;
      children.push({
        attributes: header.mayHaveAttributes ? attributesAt(file.file_id, path) : [],
        chunks: null,
        filters: null,
        kind: 'dataset',
        name: key,
        shape,
        type: typeMetadata(metadata as Metadata)
      });
      continue;
    }
    const mayHaveAttributes = header?.mayHaveAttributes ?? true;
    const fast = tryDataset ? datasetChild(file.file_id, path, key, mayHaveAttributes) : null;
    if (fast) {
      children.push(fast);
      continue;
    }
    const r = resolvePath(file, path, 'only_valid', '');
    tryDataset = !('link' in r) && r.entity instanceof Dataset;
    children.push(describeResolved(r, false, file));
  }
  return children;
}

/** A child's /meta if `path` opens as a dataset (following links, as `file.get` does). */
function datasetChild(
  fileId: bigint,
  path: string,
  name: string,
  mayHaveAttributes: boolean
): EntityMetadata | null {
  let m: Metadata;
  try {
    m = Module.get_dataset_metadata(fileId, path);
  } catch {
    return null;
  }
  if (!m) {
    return null;
  }
  // HDF5 only applies a filter pipeline to chunked layouts: a contiguous or compact dataset
  // has none, so its filter list need not be opened for.
  const filters = m.chunks ? Module.get_dataset_filters(fileId, path) : [];
  return {
    attributes: mayHaveAttributes ? attributesAt(fileId, path) : [],
    chunks: m.chunks ?? null,
    filters: filters.length === 0 ? null : filters.map(f => ({ id: f.id, name: f.name })),
    kind: 'dataset',
    name,
    shape: m.shape,
    type: typeMetadata(m)
  };
}
