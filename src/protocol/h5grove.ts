// Wire types of the h5grove 4 protocol (see h5grove-protocol.md §6). Shared by the companion
// server, which produces them, and the browser, which may consume them.

export type ResolveLinks = 'only_valid' | 'none' | 'all';
export type DataFormat = 'json' | 'bin' | 'npy' | 'csv' | 'tiff';
export type DtypeOption = 'origin' | 'safe';

/** NumPy dtype string, or field name → dtype for compounds (nested for nested compounds). */
export type DtypeDescr = string | { [field: string]: DtypeDescr };

export interface TypeMetadata {
  class: number;
  dtype: DtypeDescr;
  size: number;
  order?: number;
  sign?: number;
  cset?: number;
  strpad?: number;
  vlen?: boolean;
  tag?: string;
  members?: CompoundMemberMetadata[] | Record<string, number>;
  base?: TypeMetadata;
  dims?: number[];
}

export interface CompoundMemberMetadata extends TypeMetadata {
  name: string;
}

export interface AttributeMetadata {
  name: string;
  shape: number[] | null;
  type: TypeMetadata;
}

export interface FilterMetadata {
  id: number;
  name: string;
}

export interface SoftLinkMetadata {
  kind: 'soft_link';
  name: string;
  target_path: string;
}

export interface ExternalLinkMetadata {
  kind: 'external_link';
  name: string;
  target_file: string;
  target_path: string;
}

export interface GroupMetadata {
  attributes: AttributeMetadata[];
  children?: EntityMetadata[];
  kind: 'group';
  name: string;
}

export interface DatasetMetadata {
  attributes: AttributeMetadata[];
  chunks: number[] | null;
  filters: FilterMetadata[] | null;
  kind: 'dataset';
  name: string;
  shape: number[] | null;
  type: TypeMetadata;
}

export interface DatatypeMetadata {
  attributes: AttributeMetadata[];
  kind: 'datatype';
  name: string;
  type: TypeMetadata;
}

export type EntityMetadata =
  GroupMetadata | DatasetMetadata | DatatypeMetadata | SoftLinkMetadata | ExternalLinkMetadata;

export interface StatsResult {
  strict_positive_min: number | null;
  positive_min: number | null;
  min: number | null;
  max: number | null;
  mean: number | null;
  std: number | null;
}
