import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.js';

/** A request inside one API section (/jobs, /pipelines, /slabs), as its dispatcher reads it. */
export interface SubRoute {
  /** the decoded path segments after the section's own, e.g. ['<id>', 'logs'] for /jobs/<id>/logs */
  parts: string[];
  method: string;
  /** 405 unless the request's method is one of `allowed` */
  only(...allowed: string[]): void;
}

/** One percent-encoded path segment; a malformed escape such as `%zz` is the client's error. */
export function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `Malformed percent-escape in path segment ${JSON.stringify(segment)}`);
  }
}

export function subRoute(route: string, req: IncomingMessage): SubRoute {
  const parts = route.split('/').slice(2).map(decodePathSegment);
  const method = req.method ?? 'GET';
  const only = (...allowed: string[]): void => {
    if (!allowed.includes(method)) {
      throw new HttpError(405, `${method} is not allowed on ${route}`);
    }
  };
  return { parts, method, only };
}
