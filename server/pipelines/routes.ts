import { Ajv } from 'ajv';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  NotebookRequest,
  RunFilter,
  RunRequest,
  WatchSetting
} from '../../src/protocol/pipelines.js';
import { HttpError } from '../http/errors.js';
import { sendJson } from '../http/respond.js';
import { check, readJson } from '../jobs/routes.js';
import {
  DefinitionError,
  DefinitionNotFoundError,
  type PipelineDefinitions
} from './definitions.js';
import { ExperimentNotFoundError } from './experiments.js';
import { gridOf } from './grid.js';
import { writeNotebook } from './notebook.js';
import type { PipelineStore } from './pipeline-store.js';
import type { PipelineRunner } from './runner.js';
import { RunConflictError, RunNotFoundError, RunRequestError } from './runner.js';
import type { FolderWatcher } from './watcher.js';

// The /pipelines HTTP API (DEVELOPERS.md "Pipelines"). Refusals are 4xx {"message"}: invalid
// definition or request 400, unknown experiment/run/definition 404, wrong run state 409.

export interface PipelinesContext {
  runner: PipelineRunner;
  store: PipelineStore;
  definitions: PipelineDefinitions;
  watcher: FolderWatcher;
  /** the Jupyter root: experiment and notebook paths are relative to it */
  root: string;
}

const name = { type: 'string', minLength: 1, maxLength: 300 } as const;
const ajv = new Ajv({ allErrors: true });
const validateRun = ajv.compile<RunRequest>({
  type: 'object',
  required: ['experiment'],
  additionalProperties: false,
  properties: {
    experiment: { type: 'string', maxLength: 4096 },
    scans: { type: 'array', minItems: 1, items: name },
    steps: { type: 'array', minItems: 1, items: name },
    site: name,
    queue: name,
    pipeline: name
  }
});
const validateWatch = ajv.compile<WatchSetting>({
  type: 'object',
  required: ['experiment', 'autoRun'],
  additionalProperties: false,
  properties: {
    experiment: { type: 'string', maxLength: 4096 },
    autoRun: { type: 'boolean' },
    pipeline: name,
    site: name,
    queue: name
  }
});
const validateRetry = ajv.compile<{ scan?: string; step?: string }>({
  type: 'object',
  additionalProperties: false,
  dependencies: { scan: ['step'], step: ['scan'] },
  properties: { scan: name, step: name }
});
const validateNotebook = ajv.compile<NotebookRequest>({
  oneOf: [
    {
      type: 'object',
      required: ['runId'],
      additionalProperties: false,
      properties: { runId: name }
    },
    {
      type: 'object',
      required: ['experiment', 'scan'],
      additionalProperties: false,
      properties: { experiment: { type: 'string', maxLength: 4096 }, scan: name }
    }
  ]
});

const FILTERS: RunFilter[] = ['active', 'waiting', 'failed', 'completed'];

function toHttpError(err: unknown): unknown {
  if (err instanceof DefinitionError || err instanceof RunRequestError) {
    return new HttpError(400, err.message);
  }
  if (
    err instanceof DefinitionNotFoundError ||
    err instanceof ExperimentNotFoundError ||
    err instanceof RunNotFoundError
  ) {
    return new HttpError(404, err.message);
  }
  if (err instanceof RunConflictError) {
    return new HttpError(409, err.message);
  }
  return err;
}

/** Answers one /pipelines request; `route` is the path after any base URL. */
export async function handlePipelines(
  ctx: PipelinesContext,
  route: string,
  q: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse
): Promise<void> {
  try {
    await dispatch(ctx, route, q, req, res);
  } catch (err) {
    throw toHttpError(err);
  }
}

function required(q: URLSearchParams, key: string): string {
  const value = q.get(key);
  if (value === null) {
    throw new HttpError(400, `the query needs ${key}=`);
  }
  return value;
}

async function dispatch(
  ctx: PipelinesContext,
  route: string,
  q: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse
): Promise<void> {
  const parts = route.split('/').slice(2).map(decodeURIComponent);
  const method = req.method ?? 'GET';
  const only = (...allowed: string[]) => {
    if (!allowed.includes(method)) {
      throw new HttpError(405, `${method} is not allowed on ${route}`);
    }
  };
  const [section, id, action] = parts;
  switch (section) {
    case 'definitions':
      if (parts.length === 1) {
        only('GET');
        sendJson(res, 200, ctx.definitions.list());
        return;
      }
      if (parts.length === 2) {
        only('GET', 'PUT');
        const definition =
          method === 'PUT' ? ctx.definitions.put(id, await readJson(req)) : ctx.definitions.get(id);
        sendJson(res, 200, definition);
        return;
      }
      break;
    case 'grid':
      if (parts.length === 1) {
        only('GET');
        const pipeline = q.get('pipeline') ?? undefined;
        sendJson(
          res,
          200,
          gridOf(ctx.store, ctx.definitions, ctx.root, required(q, 'experiment'), pipeline)
        );
        return;
      }
      break;
    case 'watch':
      if (parts.length === 1) {
        only('GET', 'PUT');
        if (method === 'GET') {
          sendJson(res, 200, ctx.watcher.get(required(q, 'experiment')));
        } else {
          sendJson(res, 200, await ctx.watcher.set(check(validateWatch, await readJson(req))));
        }
        return;
      }
      break;
    case 'notebook':
      if (parts.length === 1) {
        only('POST');
        const body = check(validateNotebook, await readJson(req));
        sendJson(res, 201, writeNotebook(ctx, body));
        return;
      }
      break;
    case 'runs':
      if (parts.length === 1) {
        only('GET', 'POST');
        if (method === 'GET') {
          const filter = q.get('filter');
          if (filter && !(FILTERS as string[]).includes(filter)) {
            throw new HttpError(400, `filter must be one of ${FILTERS.join(', ')}`);
          }
          sendJson(res, 200, ctx.runner.list((filter || undefined) as RunFilter | undefined));
        } else {
          sendJson(res, 201, ctx.runner.startRun(check(validateRun, await readJson(req))));
        }
        return;
      }
      if (parts.length === 2) {
        only('GET');
        sendJson(res, 200, ctx.runner.view(id));
        return;
      }
      if (parts.length === 3 && action === 'cancel') {
        only('POST');
        sendJson(res, 202, await ctx.runner.cancel(id));
        return;
      }
      if (parts.length === 3 && action === 'retry') {
        only('POST');
        const body = check(validateRetry, await readJson(req));
        const cell = body.scan && body.step ? { scan: body.scan, step: body.step } : undefined;
        sendJson(res, 202, ctx.runner.retry(id, cell));
        return;
      }
      break;
  }
  throw new HttpError(404, `Unknown endpoint ${route}`);
}
