import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Context } from '../h5grove/handlers.js';
import {
  handleAttr,
  handleData,
  handleMeta,
  handlePaths,
  handleStats
} from '../h5grove/handlers.js';
import { withFrameFolders } from '../h5grove/frame-folder.js';
import type { JobEvents } from '../jobs/events.js';
import type { LiveFiles } from '../live/live-files.js';
import type { JobsContext } from '../jobs/routes.js';
import { handleJobs } from '../jobs/routes.js';
import type { PipelinesContext } from '../pipelines/routes.js';
import { handlePipelines } from '../pipelines/routes.js';
import { listDirectory } from '../files/list.js';
import { forwardH5grove } from '../remote/cross-site.js';
import type { RemoteSites } from '../remote/remote-sites.js';
import { handleSites } from '../remote/routes.js';
import { handleSlabs } from '../slabs/routes.js';
import type { SlabService } from '../slabs/slab-service.js';
import { isAuthorized } from './auth.js';
import { answerClientError } from './client-error.js';
import { HttpError } from './errors.js';
import { sendBody, sendError, sendJson } from './respond.js';

// Routing. Each endpoint answers with and without a trailing slash (h5web ≤ 16 vs 17) and
// never redirects, because a redirect behind a proxy prefix can lose the prefix or the token.

export interface AppOptions extends Context {
  token?: string;
  /** optional URL prefix stripped before routing, e.g. "/nexus" */
  baseUrl?: string;
  /** the job layer: /jobs routes and the /events WebSocket; absent, they answer 404 */
  jobs?: JobsContext & { events: JobEvents };
  /** the pipeline runner: /pipelines routes; absent, they answer 404 */
  pipelines?: PipelinesContext;
  /** interactive HKL slabs: /slabs routes; absent, they answer 404 */
  slabs?: SlabService;
  /** remote sites over SSH: /sites routes, global URIs and cross-site links; absent, 404 */
  sites?: RemoteSites;
  /** files watched once a client asked for their /meta: change notifications on /events */
  live?: LiveFiles;
}

type Handler = (ctx: Context, q: URLSearchParams, res: ServerResponse) => Promise<void>;

const routes: Record<string, Handler> = {
  '/meta': withFrameFolders('/meta', handleMeta),
  '/attr': withFrameFolders('/attr', handleAttr),
  '/data': withFrameFolders('/data', handleData),
  '/paths': withFrameFolders('/paths', handlePaths),
  '/stats': withFrameFolders('/stats', handleStats)
};

function stripPrefix(pathname: string, prefix: string | undefined): string | null {
  if (!prefix || prefix === '/') {
    return pathname;
  }
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (pathname === p) {
    return '/';
  }
  return pathname.startsWith(p + '/') ? pathname.slice(p.length) : null;
}

export async function handleRequest(
  opts: AppOptions,
  req: IncomingMessage,
  res: ServerResponse
): Promise<void> {
  try {
    if (!isAuthorized(req, opts.token)) {
      throw new HttpError(401, 'Missing or invalid token');
    }
    const url = new URL(`http://localhost${req.url ?? '/'}`);
    const pathname = stripPrefix(url.pathname, opts.baseUrl);
    if (pathname === null) {
      throw new HttpError(404, 'Not found');
    }
    const route = pathname.length > 1 && pathname.endsWith('/') ? pathname.slice(0, -1) : pathname;
    if (opts.jobs && (route === '/jobs' || route.startsWith('/jobs/'))) {
      await handleJobs(opts.jobs, route, url.searchParams, req, res);
      return;
    }
    if (opts.pipelines && (route === '/pipelines' || route.startsWith('/pipelines/'))) {
      await handlePipelines(opts.pipelines, route, url.searchParams, req, res);
      return;
    }
    if (opts.slabs && (route === '/slabs' || route.startsWith('/slabs/'))) {
      await handleSlabs(opts.slabs, route, url.searchParams, req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new HttpError(405, 'Method not allowed');
    }
    if (route === '/' || route === '') {
      sendBody(res, 200, 'ok', 'text/plain');
      return;
    }
    if (route === '/ls') {
      sendJson(res, 200, await listDirectory(opts.roots, url.searchParams.get('path') ?? ''));
      return;
    }
    if (opts.sites && (route === '/sites' || route.startsWith('/sites/'))) {
      await handleSites(opts.sites, route, url.searchParams, res);
      return;
    }
    const handler = routes[route];
    if (!handler) {
      throw new HttpError(404, `Unknown endpoint ${route}`);
    }
    const file = url.searchParams.get('file');
    if (opts.live && route === '/meta' && file) {
      void opts.live.watch(file);
      opts.sites?.live.watch(file);
    }
    if (opts.sites && opts.sites.names.length > 0) {
      await forwardH5grove(opts.sites, route, url.searchParams, res, () =>
        handler(opts, url.searchParams, res)
      );
      return;
    }
    await handler(opts, url.searchParams, res);
  } catch (err) {
    const status = err instanceof HttpError ? err.status : 500;
    const message = err instanceof Error ? err.message : String(err);
    if (!res.headersSent) {
      sendError(res, status, message);
    } else {
      res.destroy();
    }
  }
}

/**
 * WebSocket upgrades: only /events, with the same token as HTTP. Browsers cannot set headers on
 * a WebSocket, so in TCP mode the token may also come as `?token=`.
 */
function handleUpgrade(opts: AppOptions, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  // Node hands the upgraded socket over without its own 'error' listener: a client resetting the
  // connection while we answer must not become an uncaught exception.
  socket.on('error', () => socket.destroy());
  const url = new URL(`http://localhost${req.url ?? '/'}`);
  const queryToken = url.searchParams.get('token');
  const authorized =
    isAuthorized(req, opts.token) ||
    (queryToken !== null &&
      isAuthorized(
        { headers: { authorization: `token ${queryToken}` } } as IncomingMessage,
        opts.token
      ));
  if (!opts.jobs || stripPrefix(url.pathname, opts.baseUrl) !== '/events' || !authorized) {
    socket.end(
      `HTTP/1.1 ${authorized ? 404 : 401} ${authorized ? 'Not Found' : 'Unauthorized'}\r\n\r\n`
    );
    return;
  }
  opts.jobs.events.handleUpgrade(req, socket, head);
}

export function createApp(opts: AppOptions): http.Server {
  const server = http.createServer((req, res) => {
    void handleRequest(opts, req, res);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    handleUpgrade(opts, req, socket, head)
  );
  server.on('clientError', answerClientError);
  return server;
}
