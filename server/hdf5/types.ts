import type { Metadata } from 'h5wasm/node';
import type { DtypeDescr, TypeMetadata } from '../../src/protocol/h5grove.js';

// Synthesis of h5grove type metadata (h5grove-protocol.md §6.2) from h5wasm metadata, including
// the NumPy dtype string that h5py would report.

export const H5T = {
  INTEGER: 0,
  FLOAT: 1,
  TIME: 2,
  STRING: 3,
  BITFIELD: 4,
  OPAQUE: 5,
  COMPOUND: 6,
  REFERENCE: 7,
  ENUM: 8,
  VLEN: 9,
  ARRAY: 10
} as const;

function orderChar(m: Metadata): string {
  return m.size === 1 ? '|' : m.littleEndian ? '<' : '>';
}

/** h5py maps an enum with members FALSE/TRUE to numpy bool. */
export function isBoolEnum(m: Metadata): boolean {
  const members = m.enum_type?.members;
  if (!members) {
    return false;
  }
  const names = Object.keys(members).sort();
  return names.length === 2 && names[0] === 'FALSE' && names[1] === 'TRUE';
}

export function dtypeOf(m: Metadata): DtypeDescr {
  switch (m.type) {
    case H5T.INTEGER:
      return `${orderChar(m)}${m.signed ? 'i' : 'u'}${m.size}`;
    case H5T.FLOAT:
      return `${orderChar(m)}f${m.size}`;
    case H5T.STRING:
      return m.vlen ? '|O' : `|S${m.size}`;
    case H5T.ENUM:
      if (isBoolEnum(m)) {
        return '|b1';
      }
      return `${orderChar(m)}${m.signed ? 'i' : 'u'}${m.size}`;
    case H5T.COMPOUND: {
      const out: Record<string, DtypeDescr> = {};
      for (const member of m.compound_type?.members ?? []) {
        out[member.name] = dtypeOf(member);
      }
      // h5py reads a compound {r, i} of two floats as complex
      if (isComplex(m)) {
        return `${orderChar(m.compound_type!.members[0])}c${m.size}`;
      }
      return out;
    }
    case H5T.REFERENCE:
    case H5T.VLEN:
      return '|O';
    default:
      return `|V${m.size}`;
  }
}

export function isComplex(m: Metadata): boolean {
  const members = m.compound_type?.members;
  return (
    m.type === H5T.COMPOUND &&
    members !== undefined &&
    members.length === 2 &&
    members[0].name === 'r' &&
    members[1].name === 'i' &&
    members[0].type === H5T.FLOAT &&
    members[1].type === H5T.FLOAT
  );
}

/** Sizes as h5py reports them on a 64-bit host: wasm32 pointers are 4 bytes, not 8. */
function hostSize(m: Metadata): number {
  if (m.type === H5T.STRING && m.vlen) {
    return 8;
  }
  if (m.type === H5T.VLEN) {
    return 16;
  }
  return m.size;
}

export function typeMetadata(m: Metadata): TypeMetadata {
  const base: TypeMetadata = { class: m.type, dtype: dtypeOf(m), size: hostSize(m) };
  switch (m.type) {
    case H5T.INTEGER:
      return { ...base, order: m.littleEndian ? 0 : 1, sign: m.signed ? 1 : 0 };
    case H5T.FLOAT:
    case H5T.BITFIELD:
      return { ...base, order: m.littleEndian ? 0 : 1 };
    case H5T.STRING:
      return { ...base, cset: m.cset ?? 0, strpad: m.strpad ?? 0, vlen: m.vlen };
    case H5T.OPAQUE:
      return { ...base, tag: '' };
    case H5T.COMPOUND:
      return {
        ...base,
        members: (m.compound_type?.members ?? []).map(member => ({
          name: member.name,
          ...typeMetadata(member)
        }))
      };
    case H5T.ENUM: {
      const baseType: Metadata = { ...m, type: H5T.INTEGER, enum_type: undefined };
      return {
        ...base,
        members: { ...(m.enum_type?.members ?? {}) },
        base: typeMetadata(baseType)
      };
    }
    case H5T.VLEN:
      return m.vlen_type ? { ...base, base: typeMetadata(m.vlen_type) } : base;
    case H5T.ARRAY: {
      const arr = m.array_type as (Metadata & { shape?: number[] }) | undefined;
      return arr ? { ...base, dims: arr.shape ?? [], base: typeMetadata(arr) } : base;
    }
    default:
      return base;
  }
}

/** Numeric in NumPy's sense (number or bool): the only types `safe`, npy, csv, tiff accept. */
export function isNumeric(m: Metadata): boolean {
  return (
    m.type === H5T.INTEGER || m.type === H5T.FLOAT || m.type === H5T.ENUM || m.type === H5T.BITFIELD
  );
}
