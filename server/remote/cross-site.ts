import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseGlobalUri } from '../../src/protocol/sites.js';
import { HttpError } from '../http/errors.js';
import { sendBody } from '../http/respond.js';
import { readBody, type SiteChannel } from './channel.js';

// h5grove requests when remote sites are configured: `file` may be a global URI
// (nexus://<site>/<path>, forwarded to that site), and an HDF5 external link whose file name is
// a global URI is followed to the other site. libhdf5 sees such a link as dangling, so:
// - /meta answers the link's target (under the link's name), for the entity and its children;
// - a request whose path is not found looks for the deepest existing object on the path; if
//   that is such a link, the request goes to the link's target with the rest of the path.

/** links followed for one request, so that a cycle of links ends */
const MAX_HOPS = 8;

export interface SitesContext {
  local: SiteChannel;
  site(name: string): SiteChannel | undefined;
}

interface Target {
  file: string;
  path: string;
}

interface MetaJson {
  kind: string;
  name: string;
  target_file?: string;
  target_path?: string;
  children?: MetaJson[];
}

function fetchFrom(
  ctx: SitesContext,
  route: string,
  q: URLSearchParams,
  target: Target
): Promise<IncomingMessage> {
  const global = parseGlobalUri(target.file);
  const channel = global ? ctx.site(global.site) : ctx.local;
  if (!channel) {
    throw new HttpError(404, `Unknown site ${global?.site}`);
  }
  const params = new URLSearchParams(q);
  params.set('file', global ? global.path : target.file);
  params.set('path', target.path);
  return channel.get(`${route}?${params.toString()}`);
}

async function fetchJson(ctx: SitesContext, target: Target, resolveLinks: string) {
  const res = await fetchFrom(
    ctx,
    '/meta',
    new URLSearchParams({ resolve_links: resolveLinks }),
    target
  );
  const body = await readBody(res);
  return res.statusCode === 200 ? (JSON.parse(body.toString('utf8')) as MetaJson) : undefined;
}

function crossSiteTarget(meta: MetaJson): Target | undefined {
  return meta.kind === 'external_link' &&
    meta.target_file !== undefined &&
    parseGlobalUri(meta.target_file)
    ? { file: meta.target_file, path: meta.target_path ?? '/' }
    : undefined;
}

/** Where a path that was not found continues, if it passes through a cross-site link. */
async function hopAlong(ctx: SitesContext, target: Target): Promise<Target | undefined> {
  const segments = target.path.split('/').filter(Boolean);
  for (let i = segments.length; i >= 1; i--) {
    const meta = await fetchJson(
      ctx,
      { file: target.file, path: '/' + segments.slice(0, i).join('/') },
      'none'
    );
    if (meta === undefined) {
      continue;
    }
    const link = crossSiteTarget(meta);
    if (!link) {
      return undefined;
    }
    const rest = segments.slice(i).join('/');
    const base = link.path.endsWith('/') ? link.path : link.path + '/';
    return { file: link.file, path: rest ? base + rest : link.path };
  }
  return undefined;
}

/** The entity at the other end of a cross-site link, under the link's name (else unchanged). */
async function followed(ctx: SitesContext, meta: MetaJson, depth: number): Promise<MetaJson> {
  const link = crossSiteTarget(meta);
  if (!link || depth >= MAX_HOPS) {
    return meta;
  }
  const target = await fetchJson(ctx, link, 'only_valid').catch(() => undefined);
  if (target === undefined) {
    return meta;
  }
  const resolved = await followed(ctx, target, depth + 1);
  return { ...resolved, name: meta.name };
}

/**
 * @param local answers the request for a local file directly (no copy through the in-memory
 *   channel); it throws 404 before writing anything when the path is not found
 */
export async function forwardH5grove(
  ctx: SitesContext,
  route: string,
  q: URLSearchParams,
  res: ServerResponse,
  local: () => Promise<void>
): Promise<void> {
  let target: Target = { file: q.get('file') ?? '', path: q.get('path') || '/' };
  if (route !== '/meta' && !parseGlobalUri(target.file)) {
    try {
      await local();
      return;
    } catch (err) {
      const next =
        err instanceof HttpError && err.status === 404 && !res.headersSent
          ? await hopAlong(ctx, target)
          : undefined;
      if (!next) {
        throw err;
      }
      target = next;
    }
  }
  for (let hop = 0; ; hop++) {
    const answer = await fetchFrom(ctx, route, q, target);
    if (answer.statusCode === 404 && hop < MAX_HOPS) {
      const next = await hopAlong(ctx, target);
      if (next) {
        answer.resume();
        target = next;
        continue;
      }
    }
    if (route === '/meta' && answer.statusCode === 200) {
      const meta = JSON.parse((await readBody(answer)).toString('utf8')) as MetaJson;
      const entity = await followed(ctx, meta, 0);
      if (entity.children) {
        entity.children = await Promise.all(
          entity.children.map(async child => {
            const resolved = await followed(ctx, child, 0);
            // a child is described without its own children, like h5grove's
            return resolved === child ? child : { ...resolved, children: undefined };
          })
        );
      }
      sendBody(res, 200, JSON.stringify(entity), 'application/json');
      return;
    }
    await relay(answer, res);
    return;
  }
}

function relay(answer: IncomingMessage, res: ServerResponse): Promise<void> {
  const headers: Record<string, string> = {};
  for (const name of ['content-type', 'content-length', 'content-disposition']) {
    const value = answer.headers[name];
    if (typeof value === 'string') {
      headers[name] = value;
    }
  }
  res.writeHead(answer.statusCode ?? 502, headers);
  return new Promise((resolve, reject) => {
    answer.on('error', err => {
      res.destroy(err);
      reject(err);
    });
    answer.pipe(res);
    res.on('finish', resolve);
    res.on('close', resolve);
  });
}
