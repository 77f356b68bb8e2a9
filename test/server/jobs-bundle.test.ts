import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { JobView } from '../../src/protocol/jobs.js';
import { REPO, startServerProcess, tempDir } from './jobs-helpers.js';

// The bundled server (jupyterlab_nexus/server/) runs without node_modules: the job store must
// load the better_sqlite3.node that server/build.mjs copies next to the bundle.
test('the bundle, copied away from node_modules, keeps jobs in SQLite and runs them', async () => {
  const built = path.join(REPO, 'jupyterlab_nexus', 'server');
  assert.ok(
    fs.existsSync(path.join(built, 'better_sqlite3.node')),
    'better_sqlite3.node is missing next to the bundle: npm run build:server copies it'
  );
  const folder = tempDir('nexus-jobs-bundle-');
  fs.cpSync(built, folder, { recursive: true });
  const stateDir = tempDir('nexus-jobs-bundle-state-');
  const server = await startServerProcess(
    stateDir,
    stateDir,
    path.join(folder, 'nexus-server.mjs')
  );
  try {
    const response = await server.request('POST', '/jobs', {
      spec: { command: ['bash', '-c', 'exit 6'] }
    });
    assert.equal(response.status, 201);
    const { id } = (await response.json()) as JobView;
    let job: JobView;
    do {
      await new Promise(resolve => setTimeout(resolve, 100));
      job = (await (await server.request('GET', `/jobs/${id}`)).json()) as JobView;
    } while (!['COMPLETED', 'FAILED', 'CANCELED'].includes(job.status.state));
    assert.equal(job.status.state, 'FAILED');
    assert.equal(job.status.exitCode, 6);
    assert.ok(fs.statSync(path.join(stateDir, 'state.sqlite')).size > 0);
  } finally {
    await server.stop();
    fs.rmSync(folder, { recursive: true, force: true });
  }
});
