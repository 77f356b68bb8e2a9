import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

// Token check for `Authorization: token <T>`. The token comes from the environment only, so it
// never appears in a process listing.

export function isAuthorized(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) {
    return true;
  }
  const header = req.headers.authorization ?? '';
  const match = /^token\s+(.+)$/i.exec(header);
  if (!match) {
    return false;
  }
  const given = Buffer.from(match[1].trim());
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
