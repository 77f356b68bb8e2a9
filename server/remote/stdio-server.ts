import type http from 'node:http';
import { Mux } from './mux.js';

// `nexus-server --stdio`: the HTTP app served over stdin/stdout, one HTTP exchange per virtual
// stream (mux.ts). This is what a remote site runs at the end of an SSH exec channel: no port
// is opened on the remote host, and the process ends when the channel closes.

export function serveStdio(
  app: http.Server,
  input: NodeJS.ReadableStream = process.stdin,
  output: NodeJS.WritableStream = process.stdout
): Promise<void> {
  const mux = new Mux(output, input);
  mux.on('stream', stream => app.emit('connection', stream));
  return new Promise(resolve => mux.once('close', () => resolve()));
}
