import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import type { ServerConnection } from '@jupyterlab/services';
import { WebSocket, WebSocketServer } from 'ws';
import { EventsSocket } from '../../src/jobs/eventsSocket.js';

// The browser's /events client (DOM-free, so it runs here against a real `ws` server): the
// Jupyter-style token, message parsing, reconnection after a close, and backing off when the
// socket opens and closes at once (what jupyter-server-proxy does while the companion is down).

async function serverOnFreePort(): Promise<{ wss: WebSocketServer; url: string }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/` };
}

function settings(wsUrl: string, token: string): ServerConnection.ISettings {
  return {
    wsUrl,
    token,
    appendToken: true,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket
  } as ServerConnection.ISettings;
}

function nextConnection(socket: EventsSocket): Promise<boolean> {
  return new Promise(resolve => {
    const slot = (_: EventsSocket, connected: boolean) => {
      socket.connectionChanged.disconnect(slot);
      resolve(connected);
    };
    socket.connectionChanged.connect(slot);
  });
}

test('connects with the token as a query parameter, emits parsed messages, reconnects', async () => {
  const { wss, url } = await serverOnFreePort();
  const paths: string[] = [];
  wss.on('connection', (_client, req) => paths.push(req.url ?? ''));
  const socket = new EventsSocket({ serverSettings: settings(url, 'a b'), maxDelay: 200 });
  try {
    assert.equal(await nextConnection(socket), true);
    assert.deepEqual(paths, ['/nexus/events?token=a%20b']);
    assert.ok(socket.isConnected);

    const received = new Promise(resolve => socket.message.connect((_, event) => resolve(event)));
    const run = { type: 'run', run: { id: 'r1' } };
    for (const client of wss.clients) {
      client.send('not json');
      client.send(JSON.stringify(run));
    }
    assert.deepEqual(await received, run);

    const down = nextConnection(socket);
    for (const client of wss.clients) {
      client.terminate();
    }
    assert.equal(await down, false);
    assert.equal(socket.isConnected, false);
    assert.equal(await nextConnection(socket), true);
    assert.equal(paths.length, 2);
  } finally {
    socket.dispose();
    wss.close();
  }
});

test('a socket closed right after opening is retried with growing delays', async () => {
  const { wss, url } = await serverOnFreePort();
  const times: number[] = [];
  wss.on('connection', client => {
    times.push(Date.now());
    client.close();
  });
  const socket = new EventsSocket({ serverSettings: settings(url, ''), maxDelay: 4000 });
  try {
    while (times.length < 4) {
      await once(wss, 'connection');
    }
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    // Jitter is "full" (0..delay), so only the ceiling grows for sure; the sum over three
    // attempts cannot be a tight loop though: each waits for a draw from a growing range.
    assert.ok(gaps.reduce((a, b) => a + b, 0) > 50, `gaps ${gaps}`);
  } finally {
    socket.dispose();
    wss.close();
  }
});

test('dispose stops reconnecting', async () => {
  const { wss, url } = await serverOnFreePort();
  let connections = 0;
  wss.on('connection', () => (connections += 1));
  const socket = new EventsSocket({ serverSettings: settings(url, ''), maxDelay: 50 });
  assert.equal(await nextConnection(socket), true);
  socket.dispose();
  for (const client of wss.clients) {
    client.terminate();
  }
  await new Promise(resolve => setTimeout(resolve, 300));
  assert.equal(connections, 1);
  wss.close();
});
