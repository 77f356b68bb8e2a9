import type { ServerResponse } from 'node:http';
import { HttpError } from '../http/errors.js';
import { sendJson } from '../http/respond.js';
import { decodePathSegment } from '../http/sub-route.js';
import { readBody } from './channel.js';
import type { RemoteSites } from './remote-sites.js';

// GET /sites: the remote sites' names; GET /sites/:name/ls?path=: one directory of a remote
// site, listed by the site's own server (so confined to the site's roots there).

export async function handleSites(
  sites: RemoteSites,
  route: string,
  q: URLSearchParams,
  res: ServerResponse
): Promise<void> {
  if (route === '/sites') {
    sendJson(res, 200, sites.names);
    return;
  }
  const match = /^\/sites\/([^/]+)\/ls$/.exec(route);
  if (!match) {
    throw new HttpError(404, `Unknown endpoint ${route}`);
  }
  const name = decodePathSegment(match[1]);
  const site = sites.site(name);
  if (!site) {
    throw new HttpError(404, `Unknown site ${name}`);
  }
  const answer = await site.get(`/ls?${new URLSearchParams({ path: q.get('path') ?? '' })}`);
  const body = await readBody(answer);
  res.writeHead(answer.statusCode ?? 502, {
    'Content-Type': 'application/json',
    'Content-Length': String(body.length)
  });
  res.end(body);
}
