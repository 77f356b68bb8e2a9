import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { Mux } from './mux.js';

// A site's HTTP app reached over a multiplexed byte channel: the SSH exec channel of a remote
// site, or an in-memory pair for the local site (so both are fetched the same way when a link
// on one site points at the other).

export interface SiteChannel {
  /** GET `pathAndQuery` on the site's app; the response streams, its body is not yet read. */
  get(pathAndQuery: string): Promise<IncomingMessage>;
}

export function requestOver(mux: Mux, pathAndQuery: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      path: pathAndQuery,
      method: 'GET',
      headers: { connection: 'close' },
      createConnection: () => mux.open()
    });
    req.on('response', resolve);
    req.on('error', reject);
    req.end();
  });
}

export async function readBody(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The local app, through an in-memory channel. */
export class LoopbackChannel implements SiteChannel {
  private readonly mux: Mux;

  constructor(app: http.Server) {
    const toApp = new PassThrough();
    const fromApp = new PassThrough();
    this.mux = new Mux(toApp, fromApp);
    new Mux(fromApp, toApp).on('stream', stream => app.emit('connection', stream));
  }

  get(pathAndQuery: string): Promise<IncomingMessage> {
    return requestOver(this.mux, pathAndQuery);
  }
}
