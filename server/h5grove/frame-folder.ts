import { promises as fsp } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type {
  AttributeMetadata,
  DatasetMetadata,
  EntityMetadata,
  GroupMetadata
} from '../../src/protocol/h5grove.js';
import type { Roots } from '../files/roots.js';
import type { DatasetDescription } from '../hdf5/messages.js';
import { HttpError } from '../http/errors.js';
import { sendBody, sendJson } from '../http/respond.js';
import { FRAME_EXTENSIONS, frameFiles, readFrame, type Frame } from '../pipelines/steps/frames.js';
import { InputError } from '../transform/input-error.js';
import type { PixelArray } from '../transform/native.js';
import { jsonValues, nestValues, npyFile } from './encoders.js';
import { decode, outputBytes, outputDescr } from './numeric.js';
import { parseDtype, parseFlatten, parseFormat } from './params.js';
import { axisCount, normalizeSelection, type AxisSelection } from './selection.js';
import { tiffBody } from './tiff.js';

// A folder of detector frames (one TIFF or CBF per frame, as a scan writes them) answered by
// the h5grove endpoints as a virtual NeXus file, so that H5Web plots it as a stack:
//   /             @default=entry
//   /entry        NXentry, @default=data
//   /entry/data   NXdata, @signal=data
//   /entry/data/data   (frames, rows, cols), the frames' own sample type
// The frame count is the folder's frame files at the time of the request, so the stack grows
// as files arrive. A /data read decodes only the frames its selection touches.

type Handler<C> = (ctx: C, q: URLSearchParams, res: ServerResponse) => Promise<void>;

interface FolderContext {
  roots: Roots;
  maxSlabBytes?: number;
}

const DATASET_PATH = '/entry/data/data';
const GROUPS: Record<string, { attributes: Record<string, string>; child: string }> = {
  '/': { attributes: { default: 'entry' }, child: 'entry' },
  '/entry': { attributes: { NX_class: 'NXentry', default: 'data' }, child: 'data' },
  '/entry/data': { attributes: { NX_class: 'NXdata', signal: 'data' }, child: 'data' }
};

const H5T_INTEGER = 0;
const H5T_FLOAT = 1;
const H5T_STRING = 3;

/** the h5grove description of a scalar UTF-8 variable-length string attribute */
const STRING_TYPE = { class: H5T_STRING, cset: 1, dtype: '|O', size: 8, strpad: 0, vlen: true };

interface Stack {
  /** the folder as the client names it, and its real path */
  file: string;
  folder: string;
  files: string[];
  layout: Layout;
  shape: number[];
}

/** what every frame of a stack must share with its first */
interface Layout {
  rows: number;
  cols: number;
  Pixels: new (n: number) => PixelArray;
  desc: DatasetDescription;
}

/**
 * Layouts by first frame (real path, mtime, size): /meta and /data would otherwise decode the
 * first frame on every request, doubling the cost of reading one frame.
 */
const layouts = new Map<string, Layout>();
const MAX_LAYOUTS = 256;

/**
 * The handler, answering for a folder of frame files when `file` names a folder inside the roots.
 * Only a 404 of the HDF5 handler leads to the folder check, so HDF5 files cost nothing more.
 */
export function withFrameFolders<C extends FolderContext>(
  endpoint: string,
  handler: Handler<C>
): Handler<C> {
  return async (ctx, q, res) => {
    try {
      await handler(ctx, q, res);
    } catch (err) {
      if (!(err instanceof HttpError) || err.status !== 404 || res.headersSent) {
        throw err;
      }
      const file = q.get('file');
      // Only plain paths name a frame folder: `sub/..` would otherwise reach the root itself.
      const plain =
        file !== null && file.split('/').every(s => s !== '' && s !== '.' && s !== '..');
      const folder = plain ? await ctx.roots.resolveDirectory(file).catch(() => null) : null;
      if (file === null || folder === null) {
        throw err;
      }
      await answer(ctx, endpoint, await openStack(file, folder), q, res);
    }
  };
}

async function answer(
  ctx: FolderContext,
  endpoint: string,
  stack: Stack,
  q: URLSearchParams,
  res: ServerResponse
): Promise<void> {
  const path = q.get('path') || '/';
  switch (endpoint) {
    case '/meta':
      sendJson(res, 200, describe(path, stack, true));
      return;
    case '/attr':
      sendJson(res, 200, attributeValues(path, q.getAll('attr_keys')));
      return;
    case '/paths':
      sendJson(
        res,
        200,
        [...Object.keys(GROUPS), DATASET_PATH].filter(
          p => path === '/' || p === path || p.startsWith(`${path}/`)
        )
      );
      return;
    case '/data':
      await sendData(ctx, path, stack, q, res);
      return;
    default:
      throw new HttpError(422, `${endpoint} is not served for a folder of frame files`);
  }
}

async function openStack(file: string, folder: string): Promise<Stack> {
  let files: string[];
  try {
    files = await frameFiles(folder);
  } catch (err) {
    if (err instanceof InputError) {
      throw new HttpError(
        404,
        `${file} is a folder without frame files (${FRAME_EXTENSIONS.join(', ')})`
      );
    }
    throw err;
  }
  const layout = await layoutOf({ file, folder }, files[0]);
  return { file, folder, files, layout, shape: [files.length, layout.rows, layout.cols] };
}

async function layoutOf(names: Pick<Stack, 'file' | 'folder'>, first: string): Promise<Layout> {
  const { mtimeMs, size } = await fsp.stat(first);
  const key = JSON.stringify([first, mtimeMs, size]);
  let layout = layouts.get(key);
  if (!layout) {
    const { rows, cols, data } = await decodeFrame(names, first);
    const Pixels = data.constructor as Layout['Pixels'];
    layout = { rows, cols, Pixels, desc: describePixels(data) };
    layouts.set(key, layout);
    if (layouts.size > MAX_LAYOUTS) {
      layouts.delete(layouts.keys().next().value as string);
    }
  }
  return layout;
}

/** A frame's pixels; a frame still being written, or no frame at all, answers 422. */
async function decodeFrame(stack: Pick<Stack, 'file' | 'folder'>, frame: string): Promise<Frame> {
  try {
    return await readFrame(frame);
  } catch (err) {
    if (!(err instanceof InputError)) {
      throw err;
    }
    // named as the client names the folder: real paths stay on the server
    throw new HttpError(422, err.message.split(stack.folder).join(stack.file));
  }
}

function describePixels(data: PixelArray): DatasetDescription {
  const isFloat = data instanceof Float32Array || data instanceof Float64Array;
  return {
    kind: 'dataset',
    shape: null,
    h5class: isFloat ? H5T_FLOAT : H5T_INTEGER,
    size: data.BYTES_PER_ELEMENT,
    littleEndian: true,
    signed: !(
      data instanceof Uint8Array ||
      data instanceof Uint16Array ||
      data instanceof Uint32Array
    ),
    numeric: true,
    boolEnum: false,
    chunks: null
  };
}

function stringAttributes(attributes: Record<string, string>): AttributeMetadata[] {
  return Object.keys(attributes)
    .sort()
    .map(name => ({ name, shape: [], type: STRING_TYPE }));
}

function notFound(path: string): HttpError {
  return new HttpError(404, `${path} not found in a folder of frame files`);
}

function describe(path: string, stack: Stack, withChildren: boolean): EntityMetadata {
  const name = path === '/' ? '' : path.slice(path.lastIndexOf('/') + 1);
  if (path === DATASET_PATH) {
    const meta: DatasetMetadata = {
      attributes: [],
      chunks: [1, stack.layout.rows, stack.layout.cols],
      filters: null,
      kind: 'dataset',
      name,
      shape: stack.shape,
      type: {
        class: stack.layout.desc.h5class,
        dtype: outputDescr(stack.layout.desc, 'origin'),
        size: stack.layout.desc.size,
        order: 0,
        ...(stack.layout.desc.h5class === H5T_INTEGER
          ? { sign: stack.layout.desc.signed ? 1 : 0 }
          : {})
      }
    };
    return meta;
  }
  const group = GROUPS[path];
  if (!group) {
    throw notFound(path);
  }
  const meta: GroupMetadata = {
    attributes: stringAttributes(group.attributes),
    kind: 'group',
    name
  };
  if (withChildren) {
    const childPath = `${path === '/' ? '' : path}/${group.child}`;
    meta.children = [describe(childPath, stack, false)];
  }
  return meta;
}

function attributeValues(path: string, keys: string[]): Record<string, string> {
  if (path === DATASET_PATH) {
    return {};
  }
  const group = GROUPS[path];
  if (!group) {
    throw notFound(path);
  }
  const wanted = keys.length > 0 ? keys : Object.keys(group.attributes);
  return Object.fromEntries(
    wanted.map(key => {
      if (!(key in group.attributes)) {
        throw new HttpError(404, `No attribute ${key} at ${path}`);
      }
      return [key, group.attributes[key]];
    })
  );
}

function indices(axis: AxisSelection): number[] {
  const out: number[] = [];
  for (let i = axis.start; i < axis.stop; i += axis.step) {
    out.push(i);
  }
  return out;
}

async function sendData(
  ctx: FolderContext,
  path: string,
  stack: Stack,
  q: URLSearchParams,
  res: ServerResponse
): Promise<void> {
  if (path !== DATASET_PATH) {
    throw path in GROUPS ? new HttpError(500, `${path} is a group, not a dataset`) : notFound(path);
  }
  const format = parseFormat(q.get('format'));
  const dtype = parseDtype(q.get('dtype'));
  const flatten = parseFlatten(q.get('flatten'));
  const sel = normalizeSelection(q.get('selection') ?? undefined, stack.shape);
  const count = sel.shape.reduce((a, b) => a * b, 1);
  if (ctx.maxSlabBytes !== undefined && count * stack.layout.desc.size > ctx.maxSlabBytes) {
    throw new HttpError(
      413,
      `Selection of ${path} is above the server's limit of ${ctx.maxSlabBytes / 2 ** 20} MiB (--max-slab-mb); narrow the selection`
    );
  }
  const [frameAxis, rowAxis, colAxis] = sel.axes;
  const { rows, cols, Pixels } = stack.layout;
  const out = new Pixels(count);
  const colCount = axisCount(colAxis);
  let at = 0;
  for (const index of indices(frameAxis)) {
    const frame = await decodeFrame(stack, stack.files[index]);
    if (frame.rows !== rows || frame.cols !== cols) {
      throw new HttpError(
        422,
        `frame ${index} is ${frame.rows}×${frame.cols}, the first frame ${rows}×${cols}`
      );
    }
    if (frame.data.constructor !== Pixels) {
      throw new HttpError(422, `frame ${index} has another sample type than the first frame`);
    }
    for (const r of indices(rowAxis)) {
      const row = r * cols;
      if (colAxis.step === 1) {
        out.set(frame.data.subarray(row + colAxis.start, row + colAxis.start + colCount), at);
        at += colCount;
      } else {
        for (let c = colAxis.start; c < colAxis.stop; c += colAxis.step) {
          out[at++] = frame.data[row + c];
        }
      }
    }
  }
  const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  const outShape = flatten && sel.shape.length > 0 ? [count] : sel.shape;
  switch (format) {
    case 'bin':
      sendBody(res, 200, outputBytes(stack.layout.desc, dtype, bytes), 'application/octet-stream');
      return;
    case 'npy':
      sendBody(
        res,
        200,
        npyFile(
          outputDescr(stack.layout.desc, dtype),
          outShape,
          outputBytes(stack.layout.desc, dtype, bytes)
        ),
        'application/octet-stream',
        { 'Content-Disposition': 'attachment; filename="data.npy"' }
      );
      return;
    case 'json':
      sendJson(
        res,
        200,
        nestValues(jsonValues(stack.layout.desc, decode(stack.layout.desc, bytes)), outShape)
      );
      return;
    case 'tiff':
      sendBody(res, 200, tiffBody(stack.layout.desc, dtype, outShape, bytes), 'image/tiff', {
        'Content-Disposition': 'attachment; filename="data.tiff"'
      });
      return;
    default:
      throw new HttpError(422, `Unsupported encoding ${format} for a folder of frame files`);
  }
}
