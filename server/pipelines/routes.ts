import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  NotebookRequest,
  RunFilter,
  RunRequest,
  WatchSetting
} from '../../src/protocol/pipelines.js';
import { withErrorStatuses, type ErrorStatuses } from '../http/error-status.js';
import { HttpError } from '../http/errors.js';
import { optionalChoice } from '../http/query.js';
import { bodyValidator, readJsonBody, validBody } from '../http/request-body.js';
import { sendJson } from '../http/respond.js';
import { subRoute } from '../http/sub-route.js';
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
const validateRun = bodyValidator<RunRequest>({
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
const validateWatch = bodyValidator<WatchSetting>({
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
const validateRetry = bodyValidator<{ scan?: string; step?: string }>({
  type: 'object',
  additionalProperties: false,
  dependencies: { scan: ['step'], step: ['scan'] },
  properties: { scan: name, step: name }
});
const validateNotebook = bodyValidator<NotebookRequest>({
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

const ERROR_STATUSES: ErrorStatuses = [
  [DefinitionError, 400],
  [RunRequestError, 400],
  [DefinitionNotFoundError, 404],
  [ExperimentNotFoundError, 404],
  [RunNotFoundError, 404],
  [RunConflictError, 409]
];

/** Answers one /pipelines request; `route` is the path after any base URL. */
export const handlePipelines = withErrorStatuses(ERROR_STATUSES, dispatch);

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
  const { parts, method, only } = subRoute(route, req);
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
          method === 'PUT'
            ? ctx.definitions.put(id, await readJsonBody(req))
            : ctx.definitions.get(id);
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
          sendJson(
            res,
            200,
            await ctx.watcher.set(validBody(validateWatch, await readJsonBody(req)))
          );
        }
        return;
      }
      break;
    case 'notebook':
      if (parts.length === 1) {
        only('POST');
        const body = validBody(validateNotebook, await readJsonBody(req));
        sendJson(res, 201, writeNotebook(ctx, body));
        return;
      }
      break;
    case 'runs':
      if (parts.length === 1) {
        only('GET', 'POST');
        if (method === 'GET') {
          sendJson(res, 200, ctx.runner.list(optionalChoice(q, 'filter', FILTERS)));
        } else {
          sendJson(res, 201, ctx.runner.startRun(validBody(validateRun, await readJsonBody(req))));
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
        const body = validBody(validateRetry, await readJsonBody(req));
        const cell = body.scan && body.step ? { scan: body.scan, step: body.step } : undefined;
        sendJson(res, 202, ctx.runner.retry(id, cell));
        return;
      }
      break;
  }
  throw new HttpError(404, `Unknown endpoint ${route}`);
}
