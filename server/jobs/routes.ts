import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import type { JobFilter, JobSpec } from '../../src/protocol/jobs.js';
import { withErrorStatuses, type ErrorStatuses } from '../http/error-status.js';
import { HttpError } from '../http/errors.js';
import { optionalChoice } from '../http/query.js';
import { bodyValidator, readJsonBody, validBody } from '../http/request-body.js';
import { sendBody, sendJson } from '../http/respond.js';
import { subRoute } from '../http/sub-route.js';
import { readLastBytes, readRange } from './log-bytes.js';
import type { JobManager } from './manager.js';
import { JobConflictError, JobNotFoundError, JobRefusedError } from './manager.js';
import type { LogStream } from './script.js';
import type { Sites } from './sites.js';
import { SitesError } from './sites.js';

// The /jobs HTTP API. Bodies are JSON, validated against the schemas below; every refusal is a
// 4xx {"message"} (refused by the site: 422, wrong state: 409, unknown job: 404).

export interface JobsContext {
  manager: JobManager;
  sites: Sites;
  /**
   * what a relative `spec.directory` is relative to (the Jupyter root). Absolute directories
   * are taken as given: the job runs as the user, whose command could `cd` anywhere anyway.
   */
  baseDirectory: string;
}

/** Largest tail served at once; longer logs are read with a follow or from the file. */
const MAX_TAIL_BYTES = 4 * 1024 * 1024;
const FOLLOW_INTERVAL_MS = 500;

const positiveInteger = { type: 'integer', minimum: 1 } as const;
const jobSpecSchema = {
  type: 'object',
  required: ['command'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', maxLength: 200 },
    command: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
    directory: { type: 'string', minLength: 1 },
    environment: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
      additionalProperties: { type: 'string' }
    },
    resources: {
      type: 'object',
      additionalProperties: false,
      properties: {
        nodes: positiveInteger,
        processes: positiveInteger,
        coresPerProcess: positiveInteger,
        gpus: { type: 'integer', minimum: 0 },
        memoryMb: positiveInteger
      }
    },
    attributes: {
      type: 'object',
      additionalProperties: false,
      properties: {
        queue: { type: 'string', minLength: 1 },
        account: { type: 'string', minLength: 1 },
        durationSeconds: { type: 'number', exclusiveMinimum: 0 },
        customOptions: { type: 'array', items: { type: 'string' } }
      }
    },
    arrayTasks: { type: 'integer', minimum: 1, maximum: 100000 },
    afterOk: { type: 'array', items: { type: 'string' } }
  }
};

const validateSubmit = bodyValidator<{ site?: string; spec: JobSpec }>({
  type: 'object',
  required: ['spec'],
  additionalProperties: false,
  properties: { site: { type: 'string', minLength: 1 }, spec: jobSpecSchema }
});
const validateSiteChoice = bodyValidator<{ site?: string }>({
  type: 'object',
  additionalProperties: false,
  properties: { site: { type: 'string', minLength: 1 } }
});

const FILTERS: JobFilter[] = ['active', 'waiting', 'failed', 'completed'];

function parseCount(q: URLSearchParams, name: string): number | undefined {
  const value = q.get(name);
  if (value === null) {
    return undefined;
  }
  if (!/^\d+$/.test(value)) {
    throw new HttpError(400, `${name} must be a non-negative integer`);
  }
  return Number(value);
}

/** The last `lines` lines of a file (all of it when undefined) within its last MAX_TAIL_BYTES. */
function tail(file: string | undefined, lines: number | undefined): { text: string; size: number } {
  const { bytes, size } = readLastBytes(file, MAX_TAIL_BYTES);
  const text = bytes.toString('utf8');
  if (lines === undefined) {
    return { text, size };
  }
  const ended = text.endsWith('\n');
  const body = ended ? text.slice(0, -1) : text;
  const kept = lines === 0 || body === '' ? [] : body.split('\n').slice(-lines);
  return { text: kept.length === 0 ? '' : kept.join('\n') + (ended ? '\n' : ''), size };
}

/** Streams the log as it grows (chunked), until the job is final and everything is sent. */
function follow(
  ctx: JobsContext,
  id: string,
  stream: LogStream,
  task: number | undefined,
  first: { text: string; size: number },
  req: IncomingMessage,
  res: ServerResponse
): void {
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache' });
  res.write(first.text);
  let offset = first.size;
  const timer = setInterval(() => {
    try {
      const final = ctx.manager.isFinal(id);
      const file = ctx.manager.logFile(id, stream, task);
      const size = file && fs.existsSync(file) ? fs.statSync(file).size : 0;
      if (file && size > offset) {
        const chunk = readRange(file, offset, size);
        offset = size;
        res.write(chunk);
      }
      if (final) {
        clearInterval(timer);
        res.end();
      }
    } catch {
      clearInterval(timer);
      res.end();
    }
  }, FOLLOW_INTERVAL_MS);
  req.on('close', () => clearInterval(timer));
}

const ERROR_STATUSES: ErrorStatuses = [
  [JobNotFoundError, 404],
  [JobRefusedError, 422],
  [JobConflictError, 409],
  [SitesError, 400]
];

/** Answers one /jobs request; `route` is the path after any base URL, e.g. `/jobs/<id>/logs`. */
export const handleJobs = withErrorStatuses(ERROR_STATUSES, dispatch);

async function dispatch(
  ctx: JobsContext,
  route: string,
  q: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse
): Promise<void> {
  const { manager, sites } = ctx;
  const { parts, method, only } = subRoute(route, req);

  if (parts.length === 0) {
    only('GET', 'POST');
    if (method === 'GET') {
      sendJson(res, 200, manager.list(optionalChoice(q, 'filter', FILTERS)));
      return;
    }
    const body = validBody(validateSubmit, await readJsonBody(req));
    const site = body.site ?? sites.value.sites[0].name;
    const spec = body.spec.directory
      ? { ...body.spec, directory: path.resolve(ctx.baseDirectory, body.spec.directory) }
      : body.spec;
    sendJson(res, 201, manager.submit(spec, site));
    return;
  }
  if (parts.length === 1 && parts[0] === 'sites') {
    only('GET', 'PUT');
    if (method === 'PUT') {
      sites.replace(await readJsonBody(req));
    }
    sendJson(res, 200, { ...sites.value, status: manager.siteStatus() });
    return;
  }
  const [id, action] = parts;
  if (parts.length === 1) {
    only('GET');
    sendJson(res, 200, manager.get(id));
    return;
  }
  if (parts.length !== 2) {
    throw new HttpError(404, `Unknown endpoint ${route}`);
  }
  switch (action) {
    case 'logs': {
      only('GET');
      const stream = q.get('stream') ?? 'stdout';
      if (stream !== 'stdout' && stream !== 'stderr') {
        throw new HttpError(400, 'stream must be stdout or stderr');
      }
      const task = parseCount(q, 'task');
      const first = tail(manager.logFile(id, stream, task), parseCount(q, 'tail'));
      if (q.get('follow') === '1' || q.get('follow') === 'true') {
        follow(ctx, id, stream, task, first, req, res);
      } else {
        sendBody(res, 200, first.text, 'text/plain; charset=utf-8');
      }
      return;
    }
    case 'cancel':
      only('POST');
      sendJson(res, 202, await manager.cancel(id));
      return;
    case 'retry': {
      only('POST');
      const body = validBody(validateSiteChoice, await readJsonBody(req));
      sendJson(res, 202, manager.retryJob(id, body.site));
      return;
    }
    case 'redirect': {
      only('POST');
      const body = validBody(validateSiteChoice, await readJsonBody(req));
      if (!body.site) {
        throw new HttpError(400, 'redirect needs a target site');
      }
      sendJson(res, 202, await manager.redirect(id, body.site));
      return;
    }
    default:
      throw new HttpError(404, `Unknown endpoint ${route}`);
  }
}
