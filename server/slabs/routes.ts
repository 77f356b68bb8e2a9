// /slabs: interactive HKL slabs.
//   GET    /slabs/source?file=          what the slab control can do with a file (SlabSource)
//   POST   /slabs                       SlabRequest → SlabInfo (a raw scan's slab starts computing)
//   GET    /slabs/:id?after=<seq>       the latest partial result, held until one newer than
//                                       <seq> exists or the slab settles (long poll, ≤ 25 s)
//   DELETE /slabs/:id                   cancel (the panel does this when the plane changes)
//   POST   /slabs/:id/save              write the finished slab next to its source → {file}
//   GET    /slabs/:id/code              notebook code recomputing it → {code}
// Partial results go to the requesting client alone, as binary (a slab image is megabytes):
// broadcasting them on /events would send every client every image, and a long poll passes
// jupyter-server-proxy, which buffers streamed HTTP responses, unchanged.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { withErrorStatuses, type ErrorStatuses } from '../http/error-status.js';
import { HttpError } from '../http/errors.js';
import { readJsonBody } from '../http/request-body.js';
import { sendBody, sendJson } from '../http/respond.js';
import { subRoute } from '../http/sub-route.js';
import { InputError } from '../transform/input-error.js';
import { parseSlabRequest } from './plane.js';
import { publicSource } from './source.js';
import type { SlabService } from './slab-service.js';

const LONG_POLL_MS = 25_000;

/** uint32 header length, JSON header padded to 4 bytes, then float32 v and n. */
function encodeSnapshot(header: object, v: Float32Array, n: Float32Array): Buffer {
  let json = JSON.stringify(header);
  json += ' '.repeat((4 - ((4 + Buffer.byteLength(json)) % 4)) % 4);
  const head = Buffer.alloc(4);
  head.writeUInt32LE(Buffer.byteLength(json));
  return Buffer.concat([
    head,
    Buffer.from(json),
    Buffer.from(v.buffer, v.byteOffset, v.byteLength),
    Buffer.from(n.buffer, n.byteOffset, n.byteLength)
  ]);
}

// a file without usable geometry or a bad output is the request's fault, not the server's
const ERROR_STATUSES: ErrorStatuses = [[InputError, 422]];

export const handleSlabs = withErrorStatuses(ERROR_STATUSES, dispatch);

async function dispatch(
  service: SlabService,
  route: string,
  q: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse
): Promise<void> {
  const { parts, method, only } = subRoute(route, req);
  if (parts.length === 0) {
    only('POST');
    sendJson(res, 202, await service.start(parseSlabRequest(await readJsonBody(req))));
    return;
  }
  if (parts.length === 1 && parts[0] === 'source') {
    only('GET');
    sendJson(res, 200, publicSource(await service.source(q.get('file') ?? undefined)));
    return;
  }
  const [id, action] = parts;
  if (parts.length === 1) {
    only('GET', 'DELETE');
    if (method === 'DELETE') {
      sendJson(res, 200, service.cancel(id));
      return;
    }
    const after = Number(q.get('after') ?? -1);
    if (!Number.isFinite(after)) {
      throw new HttpError(400, 'after must be a number');
    }
    const { header, v, n } = await service.snapshot(id, after, LONG_POLL_MS);
    sendBody(res, 200, encodeSnapshot(header, v, n), 'application/octet-stream', {
      'Cache-Control': 'no-store'
    });
    return;
  }
  if (parts.length === 2 && action === 'save') {
    only('POST');
    sendJson(res, 200, { file: service.save(id, `POST /slabs/${id}/save`) });
    return;
  }
  if (parts.length === 2 && action === 'code') {
    only('GET');
    sendJson(res, 200, { code: service.code(id) });
    return;
  }
  throw new HttpError(404, `Unknown endpoint ${route}`);
}
