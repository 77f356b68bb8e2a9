import type { ServerResponse } from 'node:http';

// Every response carries Content-Length (h5grove-protocol.md §1) and errors are JSON bodies
// with a plain reason phrase (§7: never put the message in the status line).

export function sendBody(
  res: ServerResponse,
  status: number,
  body: Buffer | string,
  contentType: string,
  extraHeaders: Record<string, string> = {}
): void {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': String(buf.length),
    ...extraHeaders
  });
  res.end(res.req.method === 'HEAD' ? undefined : buf);
}

const BIGINT_MARK = '\u0000bigint:';

/**
 * JSON with BigInt written as exact integer literals, as orjson writes int64/uint64 (JavaScript
 * clients lose precision above 2^53; H5Web uses `bin` for those anyway).
 */
export function toJson(value: unknown): string {
  const text = JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'bigint' ? `${BIGINT_MARK}${v.toString()}` : v
  );
  return text.includes('bigint:') ? text.replace(/"\\u0000bigint:(-?\d+)"/g, '$1') : text;
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  sendBody(res, status, toJson(value), 'application/json');
}

export function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { message });
}
