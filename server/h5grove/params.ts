import type { DataFormat, DtypeOption, ResolveLinks } from '../../src/protocol/h5grove.js';
import { HttpError } from '../http/errors.js';

// Query-parameter parsing with h5grove's accepted values and 422 messages.

export function parseResolveLinks(v: string | null): ResolveLinks {
  if (v === null || v === '') {
    return 'only_valid';
  }
  const lower = v.toLowerCase();
  if (lower === 'only_valid' || lower === 'none' || lower === 'all') {
    return lower;
  }
  if (lower === 'true') {
    return 'all';
  }
  if (lower === 'false') {
    return 'none';
  }
  throw new HttpError(
    422,
    `Unsupported resolve_links ${v}: use one of only_valid, none, all (or true, false)`
  );
}

export function parseFormat(v: string | null): DataFormat {
  const f = v ?? 'json';
  if (f === 'json' || f === 'bin' || f === 'npy' || f === 'csv' || f === 'tiff') {
    return f;
  }
  throw new HttpError(422, `Unsupported encoding ${f}`);
}

export function parseDtype(v: string | null): DtypeOption {
  const d = v ?? 'origin';
  if (d === 'origin' || d === 'safe') {
    return d;
  }
  throw new HttpError(422, `Unsupported dtype ${d}`);
}

/** Tornado/Flask semantics: anything but "false" (any case) is true; absent is false. */
export function parseFlatten(v: string | null): boolean {
  return v !== null && v.toLowerCase() !== 'false';
}
