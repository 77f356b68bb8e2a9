import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { isInside, Roots } from '../../server/files/roots.js';
import { HttpError } from '../../server/http/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nexus-roots-'));
const root = path.join(tmp, 'data');
const sibling = path.join(tmp, 'data2');
fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
fs.mkdirSync(sibling);
fs.writeFileSync(path.join(root, 'sub', 'a.h5'), 'x');
fs.writeFileSync(path.join(sibling, 'secret.h5'), 'x');
fs.writeFileSync(path.join(tmp, 'outside.h5'), 'x');
fs.symlinkSync(path.join(tmp, 'outside.h5'), path.join(root, 'escape.h5'));
fs.symlinkSync(sibling, path.join(root, 'dirlink'));
fs.symlinkSync(path.join(root, 'sub', 'a.h5'), path.join(root, 'inner.h5'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function statusOf(roots: Roots, file: string): Promise<number> {
  try {
    await roots.resolve(file);
    return 200;
  } catch (e) {
    assert.ok(e instanceof HttpError);
    assert.equal(e.message, e.status === 404 ? 'File not found!' : e.message);
    return e.status;
  }
}

test('a file inside the root resolves to its real path', async () => {
  const r = await new Roots([root]).resolve('sub/a.h5');
  assert.equal(r.realPath, fs.realpathSync(path.join(root, 'sub', 'a.h5')));
  assert.equal(r.basename, 'a.h5');
});

test('escapes are 404 File not found!', async () => {
  const roots = new Roots([root]);
  for (const bad of [
    '../outside.h5',
    'sub/../../outside.h5',
    path.join(tmp, 'outside.h5'),
    'sub/a.h5\0.txt',
    'escape.h5',
    'dirlink/secret.h5',
    '../data2/secret.h5',
    'sub',
    'missing.h5',
    ''
  ]) {
    assert.equal(await statusOf(roots, bad), 404, bad);
  }
});

test('a symlink staying inside the root is allowed', async () => {
  assert.equal(await statusOf(new Roots([root]), 'inner.h5'), 200);
});

test('several roots are addressed by basename', async () => {
  const roots = new Roots([root, sibling]);
  assert.equal(await statusOf(roots, 'data2/secret.h5'), 200);
  assert.equal(await statusOf(roots, 'data/sub/a.h5'), 200);
  assert.equal(await statusOf(roots, 'sub/a.h5'), 404);
  // a root's name selects the root; `..` cannot hop to another root
  assert.equal(await statusOf(roots, 'data/../data2/secret.h5'), 404);
  assert.equal(await statusOf(roots, 'data/../outside.h5'), 404);
});

test('containment compares whole path segments', () => {
  assert.equal(isInside('/data', '/data2/x'), false);
  assert.equal(isInside('/data', '/data/x'), true);
  assert.equal(isInside('/data', '/data'), false);
  assert.equal(isInside('/data', '/data/..x'), true);
});
