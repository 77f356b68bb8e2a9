import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { writeH5 } from '../server/helpers.js';
import { REPO, startServerProcess, type ServerProcess } from '../server/jobs-helpers.js';

// A shared login node: a second Unix account (created by scripts/sshd-up.sh, run as root; this
// suite is NOT RUN without it) can neither connect to the server's unix socket nor use its TCP
// port without the token, nor read anything through it; the token appears in no process's
// command line, nor in the server's output or the files it writes.

const OTHER = /^NEXUS_SSHD_USER=(.+)$/m.exec(fs.readFileSync('/run/nexus-sshd/env', 'utf8'))?.[1];
const MARK = 'PRIVATE-c41d';

let base: string;
let root: string;
let socketDir: string;
let socketPath: string;
let socketServer: ReturnType<typeof spawnServer>;
let tcp: ServerProcess;

/** Runs `script` (JavaScript) with node as the other account; returns what it printed. */
function asOther(script: string, ...args: string[]): { out: string; code: number | null } {
  assert.ok(OTHER, 'no second account: run scripts/sshd-up.sh as root');
  const r = spawnSync(
    '/usr/sbin/runuser',
    ['-u', OTHER, '--', process.execPath, '-e', script, ...args],
    {
      cwd: '/',
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin' },
      timeout: 30_000
    }
  );
  return { out: r.stdout + r.stderr, code: r.status };
}

/** the other account's client: an HTTP GET over a unix socket or TCP, printing status and body */
const CLIENT = `
const http = require('node:http');
const [target, where, token] = process.argv.slice(1);
const options = where.startsWith('/') ? { socketPath: where } : { host: '127.0.0.1', port: Number(where) };
const req = http.get({ ...options, path: target, headers: token ? { Authorization: 'token ' + token } : {} }, res => {
  let body = '';
  res.on('data', c => (body += c));
  res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, body })));
});
req.on('error', e => console.log(JSON.stringify({ error: e.code })));
`;

const withoutToken = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => name !== 'NEXUS_SERVER_TOKEN')
);

/** the server from sources on a unix socket, its whole output kept */
function spawnServer(args: string[]) {
  const out: string[] = [];
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(REPO, 'server', 'main.ts'), ...args],
    // as jupyter-server-proxy starts it: no token, the socket's permissions are the guard
    { cwd: REPO, env: withoutToken, stdio: 'pipe' }
  );
  child.stdout.on('data', (c: Buffer) => out.push(c.toString()));
  child.stderr.on('data', (c: Buffer) => out.push(c.toString()));
  return { child, out };
}

before(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'nexus-multiuser-'));
  fs.chmodSync(base, 0o755);
  root = path.join(base, 'root');
  fs.mkdirSync(root);
  writeH5(path.join(root, 'data.h5'), `f.attrs['mark'] = '${MARK}'\nf['v'] = np.arange(3)`);
  // a private directory as jupyter-server-proxy makes one (0700), and the socket in it (0600)
  socketDir = fs.mkdtempSync(path.join(base, 'sock-'));
  socketPath = path.join(socketDir, 'nexus.sock');
  socketServer = spawnServer([
    '--root',
    root,
    '--socket',
    socketPath,
    '--state-dir',
    path.join(base, 'state-socket')
  ]);
  await new Promise<void>((resolve, reject) => {
    const check = setInterval(() => {
      if (socketServer.out.join('').includes('NEXUS_SERVER_READY')) {
        clearInterval(check);
        resolve();
      }
      if (socketServer.child.exitCode !== null) {
        clearInterval(check);
        reject(new Error(socketServer.out.join('')));
      }
    }, 50);
  });
  tcp = await startServerProcess(path.join(base, 'state-tcp'), root);
});
after(async () => {
  socketServer.child.kill();
  await tcp.stop();
  fs.rmSync(base, { recursive: true, force: true });
});

test('the owner reads through both servers (the refusals below are not blanket)', () => {
  const viaSocket = JSON.parse(
    execFileSync(process.execPath, ['-e', CLIENT, '/attr?file=data.h5&path=/', socketPath], {
      encoding: 'utf8'
    })
  );
  assert.equal(viaSocket.status, 200);
  assert.ok(viaSocket.body.includes(MARK));
  const viaTcp = JSON.parse(
    execFileSync(
      process.execPath,
      ['-e', CLIENT, '/attr?file=data.h5&path=/', new URL(tcp.url).port, tcp.token],
      { encoding: 'utf8' }
    )
  );
  assert.equal(viaTcp.status, 200);
  assert.ok(viaTcp.body.includes(MARK));
});

test('the other account cannot connect to the unix socket', () => {
  assert.equal(fs.statSync(socketPath).mode & 0o777, 0o600);
  assert.equal(fs.statSync(socketDir).mode & 0o777, 0o700);
  const { out } = asOther(CLIENT, '/attr?file=data.h5&path=/', socketPath);
  assert.deepEqual(JSON.parse(out), { error: 'EACCES' });
  // even with the directory opened up, the socket's own mode keeps it out
  fs.chmodSync(socketDir, 0o755);
  try {
    const again = asOther(CLIENT, '/attr?file=data.h5&path=/', socketPath);
    assert.deepEqual(JSON.parse(again.out), { error: 'EACCES' });
  } finally {
    fs.chmodSync(socketDir, 0o700);
  }
});

test('the other account gets 401 JSON on TCP without the right token, and no data', () => {
  const port = new URL(tcp.url).port;
  for (const token of ['', 'wrong', tcp.token.slice(0, -1), `${tcp.token}x`]) {
    for (const target of [
      '/attr?file=data.h5&path=/',
      '/data?file=data.h5&path=/v',
      '/jobs',
      '/ls?path='
    ]) {
      const { out } = asOther(CLIENT, target, port, token);
      const answer = JSON.parse(out) as { status: number; body: string };
      assert.equal(answer.status, 401, `${target} with '${token}'`);
      assert.equal(JSON.parse(answer.body).message, 'Missing or invalid token');
      assert.ok(!answer.body.includes(MARK));
    }
  }
});

test('the other account cannot read the token from the server process', () => {
  for (const pid of [socketServer.child.pid!, tcp.child.pid!]) {
    const { out } = asOther(
      `try { require('fs').readFileSync('/proc/${pid}/environ'); console.log('read') } catch (e) { console.log(e.code) }`
    );
    assert.equal(out.trim(), 'EACCES');
  }
});

test('the token is in no command line (server, worker threads, jobs) and in no output or file', async () => {
  // a job, so that its processes are among those looked at
  const submitted = await tcp.request('POST', '/jobs', {
    spec: { name: 'mu', command: ['sleep', '5'], directory: root }
  });
  assert.equal(submitted.status, 201, await submitted.clone().text());
  await new Promise(resolve => setTimeout(resolve, 1500));
  let looked = 0;
  for (const pid of fs.readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    looked++;
    assert.ok(!cmdline.includes(tcp.token), `token in the command line of ${pid}: ${cmdline}`);
  }
  assert.ok(looked > 10);
  const sleeping = execFileSync('pgrep', ['-f', '^sleep 5$'], { encoding: 'utf8' }).trim();
  assert.ok(sleeping.length > 0, 'the job is not running');
  assert.ok(socketServer.out.join('').includes('NEXUS_SERVER_READY'));
  for (const file of fs.readdirSync(base, { recursive: true, encoding: 'utf8' })) {
    const full = path.join(base, file);
    if (fs.statSync(full).isFile()) {
      assert.ok(!fs.readFileSync(full).includes(tcp.token), `token written to ${file}`);
    }
  }
});
