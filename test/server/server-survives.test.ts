import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { REPO, startServerProcess, tempDir, type ServerProcess } from './jobs-helpers.js';

// The server process (server/main.ts, as jupyter-server-proxy starts it) never dies from what a
// client does to a connection: each case below used to end it with exit code 1.

let srv: ServerProcess;
let stderr = '';

before(async () => {
  const state = tempDir('nexus-survives-');
  srv = await startServerProcess(state);
  srv.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
});
after(() => srv.stop());

async function assertServing(): Promise<void> {
  assert.equal(srv.child.exitCode, null, `server exited: ${stderr}`);
  assert.equal((await srv.request('GET', '/jobs')).status, 200);
}

function upgradeRequest(route: string): string {
  return (
    `GET ${route} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
    `Authorization: token ${srv.token}\r\n\r\n`
  );
}

function connect(): net.Socket {
  const socket = net.connect(Number(new URL(srv.url).port), '127.0.0.1');
  socket.on('error', () => undefined);
  return socket;
}

test('an invalid WebSocket frame on /events closes that client only', async () => {
  const socket = connect();
  socket.write(upgradeRequest('/events'));
  const [answer] = (await once(socket, 'data')) as [Buffer];
  assert.match(answer.toString(), /^HTTP\/1\.1 101/);
  const closed = new Promise(resolve => socket.once('close', resolve));
  // A final text frame with RSV2 set: no extension was negotiated, so it is a protocol error.
  socket.write(Buffer.from([0xa1, 0x80, 0, 0, 0, 0]));
  await closed;
  await assertServing();
});

test('clients resetting refused upgrades while the server answers them', async () => {
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      const socket = connect();
      await new Promise<void>(resolve =>
        socket.write(upgradeRequest('/not-events'), () => resolve())
      );
      socket.resetAndDestroy();
    })
  );
  // Let the server write its 404s into the reset connections.
  await new Promise(resolve => setTimeout(resolve, 500));
  await assertServing();
});

test('a stdout nobody reads (EPIPE on the READY line) leaves the server serving', async () => {
  const state = tempDir('nexus-survives-stdout-');
  const child = spawn(
    process.execPath,
    [
      ...['--import', 'tsx', path.join(REPO, 'server', 'main.ts')],
      ...['--root', state, '--port', '0', '--state-dir', state]
    ],
    {
      cwd: REPO,
      env: { ...process.env, NEXUS_SERVER_TOKEN: 'stdout-token' },
      stdio: ['pipe', 'pipe', 'pipe']
    }
  );
  child.stdout.destroy();
  let log = '';
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
        if (match) {
          resolve(match[1]);
        }
      });
      child.once('exit', code => reject(new Error(`server exited (${code}): ${log}`)));
    });
    // The failed write surfaces asynchronously, after the listening line.
    await new Promise(resolve => setTimeout(resolve, 500));
    assert.equal(child.exitCode, null, log);
    const answer = await fetch(`${url}/jobs`, { headers: { Authorization: 'token stdout-token' } });
    assert.equal(answer.status, 200);
  } finally {
    child.kill('SIGTERM');
    await new Promise(resolve => child.once('exit', resolve));
  }
  assert.match(log, /shutting down: SIGTERM/);
});
