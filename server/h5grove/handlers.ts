import type { ServerResponse } from 'node:http';
import type { Roots } from '../files/roots.js';
import type { DtypeOption } from '../../src/protocol/h5grove.js';
import type { DatasetDescription, Description } from '../hdf5/messages.js';
import type { WorkerPool } from '../hdf5/pool.js';
import { HttpError } from '../http/errors.js';
import { sendBody, sendJson, toJson } from '../http/respond.js';
import type { CachedBody, ResponseCache } from './cache.js';
import { readNumericBytes, streamNumeric } from './data.js';
import { csvText, jsonValues, nestValues, npyFile } from './encoders.js';
import { decode, outputBytes, outputDescr } from './numeric.js';
import { metaJson } from './meta.js';
import { prefetcher } from './prefetch.js';
import type { ReadBudget } from './read-budget.js';
import { parseDtype, parseFlatten, parseFormat, parseResolveLinks } from './params.js';
import { normalizeSelection } from './selection.js';
import { computeStats } from './stats.js';
import { tiffBody } from './tiff.js';

// The h5grove endpoints. Check order follows h5grove-protocol.md §3: resolve_links, file,
// path, entity kind, then selection/dtype/format.

export interface Context {
  roots: Roots;
  pool: WorkerPool;
  cache: ResponseCache;
  /** largest /data selection in stored bytes (`--max-slab-mb`); default DEFAULT_MAX_SLAB_MB */
  maxSlabBytes?: number;
  /** admission of /data reads by size (absent: no admission control) */
  readBudget?: ReadBudget;
}

/** A login node is shared: one request must not be able to take gigabytes of its memory. */
export const DEFAULT_MAX_SLAB_MB = 2048;

const H5T_FLOAT = 1;
/** largest selection, in stored bytes, encoded as json/csv/npy */
const TEXT_LIMIT = 256 * 1024 * 1024;

async function common(ctx: Context, q: URLSearchParams) {
  const resolveLinks = parseResolveLinks(q.get('resolve_links'));
  const file = await ctx.roots.resolve(q.get('file') ?? undefined);
  const path = q.get('path') || '/';
  const base = { file, basename: file.basename, path, resolveLinks };
  return { file, path, resolveLinks, base };
}

/** Key of a cached response; the file's mtime and size make a rewritten file miss. */
function responseCacheKey(
  file: { realPath: string; mtimeMs: number; size: number },
  ...request: unknown[]
): string {
  return JSON.stringify([file.realPath, file.mtimeMs, file.size, ...request]);
}

/**
 * Answers from the byte-bounded response cache shared by /meta and /data (waiting for a prefetch
 * of the same response if one is under way); false on a miss.
 */
async function sendCached(ctx: Context, res: ServerResponse, cacheKey: string): Promise<boolean> {
  const hit = await ctx.cache.lookup(cacheKey);
  if (hit) {
    sendBody(res, hit.status ?? 200, hit.body, hit.contentType, hit.headers);
    hit.afterServe?.();
  }
  return hit !== undefined;
}

function binaryBody(desc: DatasetDescription, dtype: DtypeOption, bytes: Uint8Array): CachedBody {
  return {
    body: outputBytes(desc, dtype, bytes),
    contentType: 'application/octet-stream',
    headers: {}
  };
}

export async function handleMeta(
  ctx: Context,
  q: URLSearchParams,
  res: ServerResponse
): Promise<void> {
  const { file, path, resolveLinks, base } = await common(ctx, q);
  const cacheKey = responseCacheKey(file, 'meta', path, resolveLinks);
  if (await sendCached(ctx, res, cacheKey)) {
    return;
  }
  let answer: CachedBody;
  try {
    const body = Buffer.from(await metaJson(ctx.pool, base), 'utf8');
    answer = { body, contentType: 'application/json', headers: {} };
  } catch (err) {
    // H5Web's error panel asks again and again for a broken file: answer those from the cache
    if (!(err instanceof HttpError) || err.status < 400 || err.status >= 500) {
      throw err;
    }
    const body = Buffer.from(toJson({ message: err.message }), 'utf8');
    answer = { status: err.status, body, contentType: 'application/json', headers: {} };
  }
  ctx.cache.set(cacheKey, answer);
  sendBody(res, answer.status ?? 200, answer.body, answer.contentType);
}

export async function handleAttr(
  ctx: Context,
  q: URLSearchParams,
  res: ServerResponse
): Promise<void> {
  const { base } = await common(ctx, q);
  const keys = q.getAll('attr_keys');
  sendJson(
    res,
    200,
    await ctx.pool.run({ ...base, op: 'attr', attrKeys: keys.length > 0 ? keys : null })
  );
}

export async function handlePaths(
  ctx: Context,
  q: URLSearchParams,
  res: ServerResponse
): Promise<void> {
  const { base } = await common(ctx, q);
  sendJson(res, 200, await ctx.pool.run({ ...base, op: 'paths' }));
}

async function describeDataset(ctx: Context, base: Awaited<ReturnType<typeof common>>['base']) {
  const desc = await ctx.pool.run<Description>({ ...base, op: 'describe' });
  if (desc.kind === 'dangling') {
    // Not a TypeError like a group: the entity is missing, and the phrase lets H5Web say so.
    throw new HttpError(404, desc.message);
  }
  if (desc.kind !== 'dataset') {
    throw new HttpError(500, `${base.path} is a ${desc.entityKind}, not a dataset`);
  }
  return desc;
}

export async function handleData(
  ctx: Context,
  q: URLSearchParams,
  res: ServerResponse
): Promise<void> {
  const { file, path, resolveLinks, base } = await common(ctx, q);
  const selection = q.get('selection') ?? undefined;
  // Keyed on the query as sent, so that a hit needs no worker; only successful answers are
  // cached, so a hit also skips no check that could fail.
  const keyFor = (sel: string | undefined): string =>
    responseCacheKey(
      file,
      'data',
      path,
      resolveLinks,
      sel,
      q.get('format'),
      q.get('dtype'),
      q.get('flatten')
    );
  const cacheKey = keyFor(selection);
  if (await sendCached(ctx, res, cacheKey)) {
    return;
  }
  const desc = await describeDataset(ctx, base);
  const format = parseFormat(q.get('format'));
  const dtype = parseDtype(q.get('dtype'));
  const flatten = parseFlatten(q.get('flatten'));
  const reply = (
    body: Buffer | string,
    contentType: string,
    headers: Record<string, string> = {}
  ): void => {
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    ctx.cache.set(cacheKey, { body: buf, contentType, headers });
    sendBody(res, 200, buf, contentType, headers);
  };

  if (!desc.numeric) {
    if (dtype === 'safe') {
      throw new HttpError(422, 'Unsupported dtype safe for non-numeric data');
    }
    if (format === 'npy' || format === 'csv' || format === 'tiff') {
      throw new HttpError(422, `Unsupported encoding ${format} for non-numeric content`);
    }
  }
  if (desc.shape === null) {
    // H5S_NULL: no value at all
    if (format === 'csv' || format === 'tiff') {
      throw new HttpError(422, `Unsupported encoding ${format} for empty and scalar datasets`);
    }
    reply(
      format === 'json' ? 'null' : Buffer.alloc(0),
      format === 'json' ? 'application/json' : 'application/octet-stream'
    );
    return;
  }
  const sel = normalizeSelection(selection, desc.shape);
  const isScalar = sel.shape.length === 0;
  const maxSlabBytes = ctx.maxSlabBytes ?? DEFAULT_MAX_SLAB_MB * 1024 * 1024;
  const slabBytes = sel.shape.reduce((a, b) => a * b, 1) * desc.size;
  if (slabBytes > maxSlabBytes) {
    throw new HttpError(
      413,
      `Selection of ${path} is ${(slabBytes / 2 ** 20).toFixed(1)} MiB, above the server's limit of ${maxSlabBytes / 2 ** 20} MiB (--max-slab-mb); narrow the selection`
    );
  }
  if (ctx.readBudget) {
    // held until the response is sent or its client is gone
    const release = await ctx.readBudget.acquire(slabBytes);
    if (res.closed) {
      release();
    } else {
      res.once('close', release);
    }
  }
  if ((format === 'csv' || format === 'tiff') && isScalar) {
    throw new HttpError(422, `Unsupported encoding ${format} for empty and scalar datasets`);
  }

  if (!desc.numeric) {
    if (format === 'bin') {
      // opaque and other fixed-size data: raw bytes as stored
      const bytes = await readNumericBytes(
        ctx.pool,
        { file, path, resolveLinks, format, dtype, flatten },
        desc,
        sel
      );
      reply(
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        'application/octet-stream'
      );
      return;
    }
    const value = await ctx.pool.run({ ...base, op: 'readJson', axes: sel.axes, flatten });
    reply(toJson(value), 'application/json');
    return;
  }

  const dataReq = { file, path, resolveLinks, format, dtype, flatten };
  if (format === 'bin') {
    const outSize = Number(/\d+$/.exec(outputDescr(desc, dtype))![0]);
    const encode = (piece: Uint8Array): Buffer => outputBytes(desc, dtype, piece);
    if (await streamNumeric(ctx.pool, dataReq, desc, sel, outSize, encode, res)) {
      return;
    }
  }
  // Text encodings are built in memory and are several times larger than the data.
  if (format !== 'bin' && slabBytes > TEXT_LIMIT) {
    throw new HttpError(
      413,
      `Selection of ${path} is too large for ${format} (${slabBytes} bytes); use format=bin or narrow the selection`
    );
  }
  const bytes = await readNumericBytes(ctx.pool, dataReq, desc, sel);
  const outShape = flatten && !isScalar ? [sel.shape.reduce((a, b) => a * b, 1)] : sel.shape;
  switch (format) {
    case 'bin': {
      const answer = binaryBody(desc, dtype, bytes);
      const { chunks } = desc;
      if (selection !== undefined && chunks !== null && ctx.cache.accepts(bytes.length)) {
        answer.afterServe = prefetcher({
          pool: ctx.pool,
          cache: ctx.cache,
          base,
          desc: { ...desc, shape: desc.shape, chunks },
          keyFor,
          encode: piece => binaryBody(desc, dtype, piece)
        })(selection);
      }
      ctx.cache.set(cacheKey, answer);
      sendBody(res, 200, answer.body, answer.contentType);
      answer.afterServe?.();
      return;
    }
    case 'npy':
      reply(
        npyFile(outputDescr(desc, dtype), outShape, outputBytes(desc, dtype, bytes)),
        'application/octet-stream',
        {
          'Content-Disposition': 'attachment; filename="data.npy"'
        }
      );
      return;
    case 'csv': {
      if (sel.shape.some(d => d === 0)) {
        throw new HttpError(422, 'Unsupported encoding csv for empty and scalar datasets');
      }
      reply(csvText(decode(desc, bytes), sel.shape, desc.h5class === H5T_FLOAT), 'text/csv', {
        'Content-Disposition': 'attachment; filename="data.csv"'
      });
      return;
    }
    case 'tiff':
      reply(tiffBody(desc, dtype, outShape, bytes), 'image/tiff', {
        'Content-Disposition': 'attachment; filename="data.tiff"'
      });
      return;
    default: {
      const values = jsonValues(desc, decode(desc, bytes));
      reply(toJson(nestValues(values, outShape)), 'application/json');
    }
  }
}

export async function handleStats(
  ctx: Context,
  q: URLSearchParams,
  res: ServerResponse
): Promise<void> {
  const { file, path, resolveLinks, base } = await common(ctx, q);
  const desc = await describeDataset(ctx, base);
  if (!desc.numeric) {
    throw new HttpError(422, 'Unsupported stats for non-numeric data');
  }
  if (desc.shape === null) {
    sendJson(res, 200, computeStats(new Float64Array(0), true));
    return;
  }
  const sel = normalizeSelection(q.get('selection') ?? undefined, desc.shape);
  const bytes = await readNumericBytes(
    ctx.pool,
    { file, path, resolveLinks, format: 'bin', dtype: 'origin', flatten: false },
    desc,
    sel
  );
  sendJson(res, 200, computeStats(decode(desc, bytes), desc.h5class === H5T_FLOAT));
}
