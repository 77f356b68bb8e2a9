import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, test } from 'node:test';
import { REPO, tempDir } from './helpers.js';

// The CLI as jupyter-server-proxy starts it.

const dir = tempDir('nexus-cli-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function start(args: string[], env: Record<string, string> = {}) {
  const childEnv = { ...process.env, ...env };
  if (!('NEXUS_SERVER_TOKEN' in env)) {
    delete childEnv.NEXUS_SERVER_TOKEN;
  }
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(REPO, 'server', 'main.ts'), '--root', dir, ...args],
    {
      env: childEnv,
      stdio: ['pipe', 'pipe', 'pipe']
    }
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', d => (stdout += d));
  child.stderr.on('data', d => (stderr += d));
  const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', () => stdout.includes('NEXUS_SERVER_READY') && resolve());
    void exited.then(() => reject(new Error(`exited: ${stderr}`)));
  });
  // only tests that await `ready` care about an early exit
  ready.catch(() => undefined);
  return { child, exited, ready, out: () => stdout, err: () => stderr };
}

test('TCP without NEXUS_SERVER_TOKEN refuses to start', async () => {
  const p = start(['--port', '0']);
  assert.equal(await p.exited, 2);
  assert.match(p.err(), /NEXUS_SERVER_TOKEN/);
});

test('socket mode: 0600 socket, READY line, answers, unlinks on SIGTERM', async () => {
  const sock = path.join(dir, 's.sock');
  const p = start(['--socket', sock]);
  await p.ready;
  assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
  const body = await new Promise<string>((resolve, reject) => {
    http
      .get({ socketPath: sock, path: '/meta?file=nope.h5' }, res => {
        let b = '';
        res.on('data', d => (b += d));
        res.on('end', () => resolve(`${res.statusCode} ${b}`));
      })
      .on('error', reject);
  });
  assert.equal(body, '404 {"message":"File not found!"}');
  p.child.kill('SIGTERM');
  assert.equal(await p.exited, 0);
  assert.equal(fs.existsSync(sock), false);
});

test('--exit-on-stdin-close exits when the parent closes the pipe', async () => {
  const sock = path.join(dir, 's2.sock');
  const p = start(['--socket', sock, '--exit-on-stdin-close']);
  await p.ready;
  p.child.stdin.end();
  assert.equal(await p.exited, 0);
  assert.equal(fs.existsSync(sock), false);
});
