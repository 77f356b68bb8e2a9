import type { AttributeMetadata, ResolveLinks } from '../../src/protocol/h5grove.js';
import type { SerializedError } from '../http/errors.js';
import type { AxisSelection } from '../h5grove/selection.js';

// Messages between the pool (main thread) and an h5wasm worker.

/** Identity of a file version: a change of mtime or size forces a reopen in the worker. */
export interface FileKey {
  realPath: string;
  mtimeMs: number;
  size: number;
}

interface BaseRequest {
  id: number;
  file: FileKey;
  /** basename used in h5grove error messages */
  basename: string;
  path: string;
  resolveLinks: ResolveLinks;
}

export type WorkerRequest =
  /** JSON text of the entity's /meta; a GroupOutline for a group with more children than given */
  | (BaseRequest & { op: 'meta'; outlineAbove: number | null })
  /** JSON text of the array of /meta of these children of the group at `path` */
  | (BaseRequest & { op: 'metaChildren'; names: string[] })
  | (BaseRequest & { op: 'attr'; attrKeys: string[] | null })
  | (BaseRequest & { op: 'paths' })
  | (BaseRequest & { op: 'describe' })
  /** raw little-endian bytes of a numeric hyperslab (no axis dropping: the caller reshapes) */
  | (BaseRequest & { op: 'readBytes'; axes: AxisSelection[] })
  /** JSON-compatible nested value of a non-numeric selection */
  | (BaseRequest & { op: 'readJson'; axes: AxisSelection[]; flatten: boolean })
  /** test hook: block the worker forever */
  | (BaseRequest & { op: 'hang' });

/** /meta of a large group before its children, which are described in parallel. */
export interface GroupOutline {
  attributes: AttributeMetadata[];
  name: string;
  /** the group's path, under which children are looked up */
  path: string;
  childNames: string[];
}

export interface DatasetDescription {
  kind: 'dataset';
  shape: number[] | null;
  /** h5wasm metadata type class, size, endianness */
  h5class: number;
  size: number;
  littleEndian: boolean;
  signed: boolean;
  numeric: boolean;
  boolEnum: boolean;
  chunks: number[] | null;
}

export type Description =
  | DatasetDescription
  | { kind: 'other'; entityKind: string }
  | { kind: 'dangling'; message: string };

export type WorkerResponse =
  { id: number; ok: true; result: unknown } | { id: number; ok: false; error: SerializedError };
