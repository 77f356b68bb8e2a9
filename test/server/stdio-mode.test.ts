import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readBody, requestOver } from '../../server/remote/channel.js';
import { hostKeyProblem } from '../../server/remote/known-hosts.js';
import { Mux } from '../../server/remote/mux.js';
import { REPO, tempDir, writeH5 } from './helpers.js';

// `nexus-server --stdio` as a child process (what the SSH exec channel runs), reached through
// the frame multiplexer: concurrent requests, binary bodies, confinement, exit when stdin
// closes. And the known_hosts check the SSH connection relies on.

describe('nexus-server --stdio', () => {
  const root = tempDir('nexus-stdio-');
  let child: ReturnType<typeof spawn>;
  let mux: Mux;

  before(() => {
    writeH5(
      path.join(root, 'a.h5'),
      `f['x'] = np.arange(600 * 400, dtype='<f8').reshape(600, 400)`
    );
    child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(REPO, 'server', 'main.ts'), '--stdio', '--root', root],
      { cwd: REPO, stdio: ['pipe', 'pipe', 'inherit'] }
    );
    mux = new Mux(child.stdin!, child.stdout!);
  });

  after(() => {
    child.kill();
  });

  const get = async (pathAndQuery: string) => {
    const res = await requestOver(mux, pathAndQuery);
    return { status: res.statusCode, headers: res.headers, body: await readBody(res) };
  };

  test('answers concurrent requests on one pipe, each with its own body', async () => {
    const rows = [0, 17, 599, 300, 42];
    const answers = await Promise.all(
      rows.map(r => get(`/data?file=a.h5&path=/x&selection=${r}&format=bin`))
    );
    answers.forEach((answer, i) => {
      assert.equal(answer.status, 200);
      assert.equal(Number(answer.headers['content-length']), 400 * 8);
      const values = new Float64Array(answer.body.buffer, answer.body.byteOffset, 400);
      assert.equal(values[0], rows[i] * 400);
      assert.equal(values[399], rows[i] * 400 + 399);
    });
    const whole = await get('/data?file=a.h5&path=/x&format=bin');
    assert.equal(whole.body.length, 600 * 400 * 8); // larger than one frame: split and joined
    const values = new Float64Array(whole.body.buffer, whole.body.byteOffset, 600 * 400);
    assert.equal(values[600 * 400 - 1], 600 * 400 - 1);
  });

  test('stays inside its roots', async () => {
    assert.equal((await get('/meta?file=../../etc/passwd&path=/')).status, 404);
    assert.equal((await get('/ls?path=..')).status, 404);
    const listing = JSON.parse((await get('/ls?path=')).body.toString()) as { name: string }[];
    assert.deepEqual(
      listing.map(e => e.name),
      ['a.h5']
    );
  });

  test('exits when its stdin closes (the SSH channel went away)', async () => {
    const exited = new Promise<number | null>(resolve => child.once('exit', resolve));
    child.stdin!.end();
    assert.equal(await exited, 0);
  });
});

describe('known_hosts check', () => {
  const dir = tempDir('nexus-known-hosts-');
  const key = randomBytes(51);
  const other = randomBytes(51);
  const file = path.join(dir, 'known_hosts');
  const hashed = (name: string) => {
    const salt = randomBytes(20);
    return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
  };

  test('plain, port-qualified, hashed, wildcard entries; changed and revoked keys', () => {
    fs.writeFileSync(
      file,
      [
        '# comment',
        `beamline.example.org,10.0.0.5 ssh-ed25519 ${key.toString('base64')}`,
        `[gateway]:2222 ssh-ed25519 ${key.toString('base64')}`,
        `${hashed('hidden.example.org')} ssh-ed25519 ${key.toString('base64')}`,
        `*.cluster.org,!bad.cluster.org ssh-ed25519 ${key.toString('base64')}`,
        `changed.example.org ssh-ed25519 ${other.toString('base64')}`,
        `@revoked * ssh-ed25519 ${other.toString('base64')}`
      ].join('\n')
    );
    assert.equal(hostKeyProblem(file, 'beamline.example.org', 22, key), undefined);
    assert.equal(hostKeyProblem(file, '10.0.0.5', 22, key), undefined);
    assert.equal(hostKeyProblem(file, 'gateway', 2222, key), undefined);
    assert.equal(hostKeyProblem(file, 'hidden.example.org', 22, key), undefined);
    assert.equal(hostKeyProblem(file, 'n1.cluster.org', 22, key), undefined);
    assert.match(hostKeyProblem(file, 'gateway', 22, key)!, /not in/);
    assert.match(hostKeyProblem(file, 'bad.cluster.org', 22, key)!, /not in/);
    assert.match(hostKeyProblem(file, 'unknown.org', 22, key)!, /not in .*ssh-keyscan/);
    assert.match(hostKeyProblem(file, 'changed.example.org', 22, key)!, /does not match/);
    assert.match(hostKeyProblem(file, 'changed.example.org', 22, other)!, /revoked/);
    assert.match(hostKeyProblem(path.join(dir, 'missing'), 'x', 22, key)!, /cannot read/);
  });
});
