import { Dataset, Group } from 'h5wasm/node';
import type { AttributeMetadata } from '../../src/protocol/h5grove.js';

// Old-style NeXus NXdata (before NIAC 2014): the signal is marked by `signal=1` on the dataset
// itself and its axes by `axes="x:y"` on that dataset (or `axis=<n>` on each axis dataset).
// H5Web only understands the group-level `signal`/`axes` attributes, so we synthesise them.
// Only NXdata groups without a `signal` attribute are inspected, which keeps large groups cheap.

export interface LegacyNxdata {
  signal: string;
  axes?: string[];
}

function attrText(v: unknown): string | null {
  if (typeof v === 'string') {
    return v;
  }
  if (typeof v === 'number' || typeof v === 'bigint') {
    return String(v);
  }
  if (Array.isArray(v) && v.length === 1) {
    return attrText(v[0]);
  }
  if (ArrayBuffer.isView(v) && (v as unknown as ArrayLike<number>).length === 1) {
    return String((v as unknown as ArrayLike<number>)[0]);
  }
  return null;
}

function safeAttr(entity: Group | Dataset, name: string): unknown {
  try {
    const a = entity.attrs[name];
    return a ? a.value : undefined;
  } catch {
    return undefined;
  }
}

export function legacyNxdata(group: Group): LegacyNxdata | null {
  const names = Object.keys(group.attrs);
  if (names.includes('signal') || attrText(safeAttr(group, 'NX_class')) !== 'NXdata') {
    return null;
  }
  let signal: string | null = null;
  const byAxis: string[] = [];
  let axesText: string | null = null;
  for (const key of group.keys()) {
    const child = group.get(key);
    if (!(child instanceof Dataset)) {
      continue;
    }
    const childAttrs = Object.keys(child.attrs);
    if (childAttrs.includes('signal') && attrText(safeAttr(child, 'signal'))?.trim() === '1') {
      signal = key;
      axesText = childAttrs.includes('axes') ? attrText(safeAttr(child, 'axes')) : null;
    }
    if (childAttrs.includes('axis')) {
      const n = Number(attrText(safeAttr(child, 'axis')));
      if (Number.isInteger(n) && n >= 1) {
        byAxis[n - 1] = key;
      }
    }
  }
  if (signal === null) {
    return null;
  }
  const axes = axesText
    ? axesText
        .replace(/[[\]]/g, '')
        .split(/[:,\s]+/)
        .filter(a => a !== '')
    : byAxis.length > 0 && byAxis.every(a => a !== undefined)
      ? byAxis
      : undefined;
  return axes ? { signal, axes } : { signal };
}

const STRING_TYPE = { class: 3, dtype: '|O', size: 8, cset: 1, strpad: 0, vlen: true };

export function legacyAttributeMetadata(l: LegacyNxdata): AttributeMetadata[] {
  const out: AttributeMetadata[] = [{ name: 'signal', shape: [], type: STRING_TYPE }];
  if (l.axes) {
    out.push({ name: 'axes', shape: [l.axes.length], type: STRING_TYPE });
  }
  return out;
}
