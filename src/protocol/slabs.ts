// Wire types of interactive HKL slabs (POST /slabs, GET /slabs/:id), shared by the panel and
// the server.

export type HklVector = [number, number, number];

/**
 * The plane through `origin` spanned by `u` and `v` (HKL, r.l.u.). Presets: "L" is L = value
 * (u = H, v = K); "H=K" is the plane H = K (u = (1, 1, 0), v = L).
 */
export type SlabPlane =
  | { preset: 'L'; value: number }
  | { preset: 'H=K' }
  | { preset: 'free'; origin: HklVector; u: HklVector; v: HklVector };

export interface SlabRequest {
  /** file path relative to the Jupyter root: a raw scan with geometry, or a transformed volume */
  file: string;
  plane: SlabPlane;
  /** extent across the plane (r.l.u. along the unit normal u×v), centred on the plane */
  thickness: number;
  /** in-plane extent in multiples of u and v */
  range: { u: [number, number]; v: [number, number] };
  /** pixels along u and v */
  resolution: [number, number];
}

export type SlabKind = 'raw' | 'volume';

/** What POST /slabs answers. */
export interface SlabInfo {
  id: string;
  kind: SlabKind;
  /** the thin grid: voxel (i, j, 0) covers origin + (i + a)·steps[0] + (j + b)·steps[1] + c·steps[2] */
  grid: { origin: HklVector; steps: [HklVector, HklVector, HklVector]; dims: [number, number, 1] };
  /** edges of the pixels along u and v (N + 1 each), in multiples of u and v */
  axes: { u: number[]; v: number[] };
  /** axis labels such as "H (r.l.u.)" or "[1 1 0] (r.l.u.)" */
  labels: { u: string; v: string };
}

export type SlabState = 'running' | 'done' | 'cancelled' | 'failed';

/**
 * Header of a GET /slabs/:id answer. The body is a uint32 header length, the header as JSON
 * (padded with spaces to a multiple of 4 bytes), then v and n as float32, each
 * resolution[1] × resolution[0] (row = v index).
 */
export interface SlabSnapshot {
  id: string;
  /** increases with every new partial result */
  seq: number;
  state: SlabState;
  framesDone: number;
  /** frames that can contribute (raw scans; 0 until they are known) */
  framesTotal: number;
  /** true once every contributing frame is in v and n */
  complete: boolean;
  message?: string;
}

/**
 * A GET /slabs/:id answer: uint32 (little-endian) length of the JSON header, the header (padded
 * to 4 bytes so the arrays are aligned), then float32 v and float32 n.
 */
export function decodeSlabSnapshot(body: ArrayBuffer): {
  header: SlabSnapshot;
  v: Float32Array;
  n: Float32Array;
} {
  const length = new DataView(body).getUint32(0, true);
  const header = JSON.parse(
    new TextDecoder().decode(new Uint8Array(body, 4, length))
  ) as SlabSnapshot;
  const pixels = (body.byteLength - 4 - length) / 8;
  return {
    header,
    v: new Float32Array(body, 4 + length, pixels),
    n: new Float32Array(body, 4 + length + 4 * pixels, pixels)
  };
}

/** What GET /slabs/source answers: whether the slab control applies to a file. */
export interface SlabSource {
  kind: SlabKind | null;
  /** why not, when kind is null */
  reason?: string;
  /** raw: dataset of the frames; volume: the NXdata group with v and n */
  path?: string;
}
