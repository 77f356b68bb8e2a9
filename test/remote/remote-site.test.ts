import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Roots } from '../../server/files/roots.js';
import { ResponseCache } from '../../server/h5grove/cache.js';
import type { WorkerPool } from '../../server/hdf5/pool.js';
import { createApp } from '../../server/http/app.js';
import { Sites } from '../../server/jobs/sites.js';
import { LoopbackChannel } from '../../server/remote/channel.js';
import { RemoteSites } from '../../server/remote/remote-sites.js';
import { REPO, startTestPool, tempDir, writeH5 } from '../server/helpers.js';

// Remote sites against a real sshd on loopback (sudo scripts/sshd-up.sh): the account
// `nexusremote` is the remote host's user, reached with a key checked against known_hosts; its
// nexus-server --stdio is the bundle (copied where that account can read it).

const env = Object.fromEntries(
  fs
    .readFileSync('/run/nexus-sshd/env', 'utf8')
    .trim()
    .split('\n')
    .map(line => line.split('=', 2) as [string, string])
);
const port = Number(env.NEXUS_SSHD_PORT);
const bundle = path.join(REPO, 'jupyterlab_nexus', 'server');

/** the bundle where the remote account can read it (a fresh clone may sit in /root) */
function installServer(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nexus-remote-server-'));
  for (const name of ['nexus-server.mjs', 'h5-worker.mjs']) {
    fs.copyFileSync(path.join(bundle, name), path.join(dir, name));
  }
  fs.cpSync(path.join(bundle, 'plugins'), path.join(dir, 'plugins'), { recursive: true });
  execFileSync('chmod', ['-R', 'a+rX', dir]);
  return dir;
}

function site(name: string, serverDir: string, overrides: Record<string, unknown> = {}) {
  return {
    name,
    scheduler: 'local',
    ssh: {
      host: '127.0.0.1',
      port,
      user: env.NEXUS_SSHD_USER,
      identityFile: env.NEXUS_SSHD_KEY,
      knownHosts: env.NEXUS_SSHD_KNOWN_HOSTS,
      node: process.execPath,
      server: path.join(serverDir, 'nexus-server.mjs'),
      roots: [env.NEXUS_SSHD_ROOT],
      ...overrides
    }
  };
}

/** pid of the remote account's nexus-server started from `serverDir` (the test started it) */
function remoteServerPid(serverDir: string): number | undefined {
  const out = execFileSync('ps', ['-u', env.NEXUS_SSHD_USER, '-o', 'pid=,args='], {
    encoding: 'utf8'
  });
  const line = out
    .split('\n')
    .find(l => l.includes(path.join(serverDir, 'nexus-server.mjs')) && l.includes('--stdio'));
  return line ? Number(line.trim().split(/\s+/)[0]) : undefined;
}

describe('remote site over SSH', () => {
  const ROWS = 2000;
  const COLS = 2000;
  let serverDir: string;
  let remoteDir: string;
  let remoteRel: string;
  let localRoot: string;
  let remoteSites: RemoteSites;
  let pool: WorkerPool;
  let server: http.Server;
  let url: string;

  before(async () => {
    serverDir = installServer();
    remoteDir = fs.mkdtempSync(path.join(env.NEXUS_SSHD_ROOT, 'test-'));
    fs.chmodSync(remoteDir, 0o755);
    remoteRel = path.basename(remoteDir);
    // 16 MB of float32 whose value is its flat index: any slab can be checked by formula
    writeH5(
      path.join(remoteDir, 'big.h5'),
      `f['x'] = np.arange(${ROWS * COLS}, dtype='<f4').reshape(${ROWS}, ${COLS})\nf['x'].attrs['units'] = 'counts'`
    );
    fs.chmodSync(path.join(remoteDir, 'big.h5'), 0o644);
    localRoot = tempDir('nexus-local-');
    writeH5(
      path.join(localRoot, 'wrapper.h5'),
      [
        `f.create_group('entry')`,
        `f['entry/ext'] = h5py.ExternalLink('nexus://remote/${remoteRel}/big.h5', '/x')`,
        `f['entry/whole'] = h5py.ExternalLink('nexus://remote/${remoteRel}/big.h5', '/')`
      ].join('\n')
    );
    const sites = new Sites(path.join(tempDir('nexus-state-'), 'sites.json'));
    sites.replace({
      sites: [
        site('remote', serverDir),
        site('broken', serverDir, { server: path.join(serverDir, 'missing.mjs') }),
        site('wrongkey', serverDir, { knownHosts: path.join(localRoot, 'known_hosts') }),
        site('down', serverDir, { port: 1 })
      ]
    });
    fs.writeFileSync(
      path.join(localRoot, 'known_hosts'),
      `[127.0.0.1]:${port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n`
    );
    pool = startTestPool();
    const files = { roots: new Roots([localRoot]), pool, cache: new ResponseCache(1 << 26) };
    remoteSites = new RemoteSites(sites, new LoopbackChannel(createApp(files)));
    server = createApp({ ...files, sites: remoteSites });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    remoteSites.close();
    server.closeAllConnections();
    await new Promise<void>(resolve => server.close(() => resolve()));
    await pool.close();
    fs.rmSync(remoteDir, { recursive: true, force: true });
    fs.rmSync(serverDir, { recursive: true, force: true });
  });

  const get = (endpoint: string, params: Record<string, string>) =>
    fetch(`${url}/${endpoint}?${new URLSearchParams(params)}`);

  test('/meta and a slab of a remote file; only about the slab crosses the channel', async () => {
    const file = `nexus://remote/${remoteRel}/big.h5`;
    const meta = await get('meta', { file, path: '/x' });
    assert.equal(meta.status, 200, await meta.clone().text());
    const m = (await meta.json()) as { kind: string; shape: number[] };
    assert.equal(m.kind, 'dataset');
    assert.deepEqual(m.shape, [ROWS, COLS]);

    const site = remoteSites.site('remote')!;
    const before = site.bytesIn;
    const row = 1234;
    const data = await get('data', { file, path: '/x', selection: String(row), format: 'bin' });
    assert.equal(data.status, 200);
    const values = new Float32Array(await data.arrayBuffer());
    assert.equal(values.length, COLS);
    for (let j = 0; j < COLS; j += 97) {
      assert.equal(values[j], row * COLS + j);
    }
    const transferred = site.bytesIn - before;
    const slabBytes = COLS * 4;
    const fileBytes = fs.statSync(path.join(remoteDir, 'big.h5')).size;
    assert.ok(
      transferred >= slabBytes && transferred < slabBytes + 4096,
      `${transferred} bytes crossed for a ${slabBytes}-byte slab of a ${fileBytes}-byte file`
    );
  });

  test('remote directories are listed inside the site roots only', async () => {
    const top = await get('sites/remote/ls', { path: '' });
    assert.equal(top.status, 200);
    const names = ((await top.json()) as { name: string }[]).map(e => e.name);
    assert.ok(names.includes(remoteRel));
    const inside = (await (await get('sites/remote/ls', { path: remoteRel })).json()) as {
      name: string;
      kind: string;
    }[];
    assert.deepEqual(
      inside.map(e => [e.name, e.kind]),
      [['big.h5', 'file']]
    );
    for (const escape of ['..', `${remoteRel}/../..`, '/etc']) {
      const res = await get('sites/remote/ls', { path: escape });
      assert.equal(res.status, 404, escape);
    }
    const passwd = await get('meta', { file: `nexus://remote/../../../etc/passwd`, path: '/' });
    assert.equal(passwd.status, 404);
    const unknown = await get('meta', { file: `nexus://nowhere/x.h5`, path: '/' });
    assert.equal(unknown.status, 404);
    assert.match(((await unknown.json()) as { message: string }).message, /Unknown site nowhere/);
  });

  test('external links of a local file to nexus://remote/... resolve', async () => {
    const entry = (await (await get('meta', { file: 'wrapper.h5', path: '/entry' })).json()) as {
      children: { name: string; kind: string; shape?: number[] }[];
    };
    const ext = entry.children.find(c => c.name === 'ext');
    assert.equal(ext?.kind, 'dataset');
    assert.deepEqual(ext?.shape, [ROWS, COLS]);
    assert.equal(entry.children.find(c => c.name === 'whole')?.kind, 'group');

    const direct = (await (
      await get('meta', { file: 'wrapper.h5', path: '/entry/ext' })
    ).json()) as {
      name: string;
      kind: string;
      attributes: { name: string }[];
    };
    assert.equal(direct.name, 'ext');
    assert.deepEqual(
      direct.attributes.map(a => a.name),
      ['units']
    );
    for (const p of ['/entry/ext', '/entry/whole/x']) {
      const res = await get('data', { file: 'wrapper.h5', path: p, selection: '7', format: 'bin' });
      assert.equal(res.status, 200, p);
      const values = new Float32Array(await res.arrayBuffer());
      assert.equal(values[5], 7 * COLS + 5, p);
    }
    const attr = await get('attr', { file: 'wrapper.h5', path: '/entry/whole/x' });
    assert.deepEqual(await attr.json(), { units: 'counts' });
  });

  test('a remote file that changes is reported within 2 s (polled over the channel)', async () => {
    const live = path.join(remoteDir, 'live.h5');
    writeH5(live, `f['frames'] = np.zeros((1, 8, 8), dtype='<u2')`);
    fs.chmodSync(live, 0o644);
    const uri = `nexus://remote/${remoteRel}/live.h5`;
    const changed: string[] = [];
    remoteSites.live.on('changed', file => changed.push(file));
    remoteSites.live.watch(uri);
    // two polls: the first records the file's stamp, the second sees no change
    await new Promise(resolve => setTimeout(resolve, 2200));
    assert.equal(changed.length, 0);
    for (let frames = 2; frames <= 4; frames++) {
      writeH5(live, `f['frames'] = np.zeros((${frames}, 8, 8), dtype='<u2')`);
      const written = Date.now();
      while (!changed.includes(uri)) {
        assert.ok(Date.now() - written < 2000, `change ${frames} not reported within 2 s`);
        await new Promise(resolve => setTimeout(resolve, 20));
      }
      changed.length = 0;
      const meta = await get('meta', { file: uri, path: '/frames' });
      assert.deepEqual(((await meta.json()) as { shape: number[] }).shape, [frames, 8, 8]);
    }
  });

  test('a lost connection gives a clear message, and the next request reconnects', async () => {
    const file = `nexus://remote/${remoteRel}/big.h5`;
    assert.equal((await get('meta', { file, path: '/' })).status, 200);
    const pid = remoteServerPid(serverDir);
    assert.ok(pid, 'the remote nexus-server runs as the remote account');
    process.kill(pid, 'SIGKILL');
    // whatever the moment the loss is noticed, a request never hangs: 502 with a message, or
    // a reconnect and the answer
    const first = await get('meta', { file, path: '/x' });
    if (first.status !== 200) {
      assert.equal(first.status, 502);
      assert.match(((await first.json()) as { message: string }).message, /site remote lost/);
    }
    const again = await get('meta', { file, path: '/x' });
    assert.equal(again.status, 200);
    const newPid = remoteServerPid(serverDir);
    assert.ok(newPid && newPid !== pid, 'a new remote server was started');

    const broken = await get('meta', { file: 'nexus://broken/x.h5', path: '/' });
    assert.equal(broken.status, 502);
    assert.match(
      ((await broken.json()) as { message: string }).message,
      /Connection to site broken lost \(remote server: .*(Cannot find module|missing\.mjs)/
    );
    const down = await get('meta', { file: 'nexus://down/x.h5', path: '/' });
    assert.equal(down.status, 503);
    assert.match(
      ((await down.json()) as { message: string }).message,
      /Site down is unreachable: .*ECONNREFUSED/
    );
    const wrongKey = await get('meta', { file: 'nexus://wrongkey/x.h5', path: '/' });
    assert.equal(wrongKey.status, 503);
    assert.match(
      ((await wrongKey.json()) as { message: string }).message,
      /host key of \[127\.0\.0\.1\]:\d+ does not match/
    );
  });
});
