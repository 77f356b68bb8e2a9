import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { JobEvent, JobView } from '../../src/protocol/jobs.js';
import type { JobManager } from './manager.js';

// The /events WebSocket: every job state change is pushed to every connected client as a
// JobEvent; other layers (pipelines) broadcast their own messages on it. The HTTP server
// routes and authenticates the upgrade; this only speaks WebSocket.

/** Pings keep proxied connections open and find clients that went away without a close. */
const PING_INTERVAL_MS = 30_000;

export class JobEvents {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly alive = new WeakSet<WebSocket>();
  private readonly pinger: NodeJS.Timeout;

  constructor(manager: JobManager) {
    this.wss.on('connection', (ws: WebSocket) => {
      // A client's bad frame (or oversized message) is an 'error' on its socket; unheard, it
      // would be an uncaught exception and take the whole server down.
      ws.on('error', () => ws.terminate());
      this.alive.add(ws);
      ws.on('pong', () => this.alive.add(ws));
    });
    this.pinger = setInterval(() => {
      for (const client of this.wss.clients) {
        if (!this.alive.has(client)) {
          client.terminate();
          continue;
        }
        this.alive.delete(client);
        client.ping();
      }
    }, PING_INTERVAL_MS);
    this.pinger.unref();
    manager.on('job', (job: JobView) => this.broadcast({ type: 'job', job } satisfies JobEvent));
  }

  /** Sends a message to every connected client (job events and, e.g., pipeline events). */
  broadcast(message: unknown): void {
    const text = JSON.stringify(message);
    for (const client of this.wss.clients) {
      if (client.readyState === client.OPEN) {
        client.send(text);
      }
    }
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, ws => this.wss.emit('connection', ws, req));
  }

  close(): void {
    clearInterval(this.pinger);
    for (const client of this.wss.clients) {
      client.terminate();
    }
    this.wss.close();
  }
}
