// Benchmark of remote sites (issue 7):
//
//   npm run bench:remote [-- --rounds 30]
//
// The same /data slabs (one 1000-value row, one 512×512 frame, float32) and a /meta, read
//   A. from a local file by the plain server (no remote sites): the baseline;
//   B. from the same local file with remote sites configured (requests then go through the
//      in-memory channel that also serves cross-site links);
//   C. from the same file on a remote site, over SSH to the loopback sshd of scripts/sshd-up.sh
//      (skipped with a note when it is not running).
// Median latency per request and its ratio to A; for C also the bytes that crossed the channel
// per request against the slab's size.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Roots } from '../../server/files/roots.js';
import { ResponseCache } from '../../server/h5grove/cache.js';
import { WorkerPool } from '../../server/hdf5/pool.js';
import { createApp } from '../../server/http/app.js';
import { Sites } from '../../server/jobs/sites.js';
import { LoopbackChannel } from '../../server/remote/channel.js';
import { RemoteSites } from '../../server/remote/remote-sites.js';
import { REPO, tempDir, writeH5 } from '../server/helpers.js';
import { medianRequestMs } from './request-timing.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '30' } } });
const rounds = Number(values.rounds);
const ENV_FILE = '/run/nexus-sshd/env';
const sshd = fs.existsSync(ENV_FILE)
  ? Object.fromEntries(
      fs
        .readFileSync(ENV_FILE, 'utf8')
        .trim()
        .split('\n')
        .map(line => line.split('=', 2) as [string, string])
    )
  : undefined;

const body = `f['x'] = np.random.default_rng(1).random((1000, 1000), dtype='f4')
f['frames'] = np.random.default_rng(2).random((8, 512, 512), dtype='f4')`;
const localRoot = tempDir('nexus-bench-remote-');
writeH5(path.join(localRoot, 'data.h5'), body);

let remoteDir: string | undefined;
let serverDir: string | undefined;
if (sshd) {
  remoteDir = fs.mkdtempSync(path.join(sshd.NEXUS_SSHD_ROOT, 'bench-'));
  fs.copyFileSync(path.join(localRoot, 'data.h5'), path.join(remoteDir, 'data.h5'));
  serverDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nexus-bench-server-'));
  const bundle = path.join(REPO, 'jupyterlab_nexus', 'server');
  for (const name of ['nexus-server.mjs', 'h5-worker.mjs']) {
    fs.copyFileSync(path.join(bundle, name), path.join(serverDir, name));
  }
  fs.cpSync(path.join(bundle, 'plugins'), path.join(serverDir, 'plugins'), { recursive: true });
  execFileSync('chmod', ['-R', 'a+rX', remoteDir, serverDir]);
}

const pool = new WorkerPool({
  size: 2,
  workerUrl: new URL('../../server/hdf5/worker.ts', import.meta.url),
  pluginDir: path.join(REPO, 'node_modules', 'h5wasm-plugins', 'plugins'),
  timeoutMs: 60000,
  tsx: true
});
// no response cache: every request reads
const files = { roots: new Roots([localRoot]), pool, cache: new ResponseCache(0) };
const sites = new Sites(path.join(tempDir('nexus-bench-state-'), 'sites.json'));
sites.replace({
  sites: [
    { name: 'local', scheduler: 'local' },
    {
      name: 'remote',
      scheduler: 'local',
      ssh: sshd
        ? {
            host: '127.0.0.1',
            port: Number(sshd.NEXUS_SSHD_PORT),
            user: sshd.NEXUS_SSHD_USER,
            identityFile: sshd.NEXUS_SSHD_KEY,
            knownHosts: sshd.NEXUS_SSHD_KNOWN_HOSTS,
            node: process.execPath,
            server: path.join(serverDir!, 'nexus-server.mjs'),
            roots: [sshd.NEXUS_SSHD_ROOT]
          }
        : { host: '127.0.0.1', user: 'nobody', server: '/nonexistent', roots: ['/'] }
    }
  ]
});
const remoteSites = new RemoteSites(sites, new LoopbackChannel(createApp(files)));

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const plain = createApp(files);
const withSites = createApp({ ...files, sites: remoteSites });
const plainUrl = await listen(plain);
const sitesUrl = await listen(withSites);

const requests: [string, Record<string, string>, number][] = [
  ['meta', { path: '/frames' }, 0],
  ['data', { path: '/x', selection: '500', format: 'bin' }, 1000 * 4],
  ['data', { path: '/frames', selection: '3', format: 'bin', dtype: 'safe' }, 512 * 512 * 4]
];

const site = remoteSites.site('remote')!;
const remoteFile = remoteDir ? `nexus://remote/${path.basename(remoteDir)}/data.h5` : '';
for (const request of requests) {
  const label = `${request[0]} ${request[1].path}${request[1].selection ? `[${request[1].selection}]` : ''}`;
  const a = await medianRequestMs(plainUrl, request[0], { file: 'data.h5', ...request[1] }, rounds);
  const b = await medianRequestMs(sitesUrl, request[0], { file: 'data.h5', ...request[1] }, rounds);
  let line = `${label.padEnd(22)} A local ${a.toFixed(2)} ms | B with sites ${b.toFixed(2)} ms (${(b / a).toFixed(2)}x)`;
  if (remoteDir) {
    const before = site.bytesIn;
    const c = await medianRequestMs(
      sitesUrl,
      request[0],
      { file: remoteFile, ...request[1] },
      rounds
    );
    const perRequest = (site.bytesIn - before) / (rounds + 2);
    line += ` | C over SSH ${c.toFixed(2)} ms (${(c / a).toFixed(2)}x), ${Math.round(perRequest)} B/request`;
    if (request[2] > 0) {
      line += ` for a ${request[2]} B slab (${(perRequest / request[2]).toFixed(3)}x)`;
    }
  }
  console.log(line);
}
if (!remoteDir) {
  console.log('C not measured: no test sshd (sudo scripts/sshd-up.sh)');
}
remoteSites.close();
plain.close();
withSites.close();
await pool.close();
if (remoteDir) {
  fs.rmSync(remoteDir, { recursive: true, force: true });
  fs.rmSync(serverDir!, { recursive: true, force: true });
}
