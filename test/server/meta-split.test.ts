import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { DatasetMetadata, GroupMetadata } from '../../src/protocol/h5grove.js';
import { startServer, tempDir, writeH5, type TestServer } from './helpers.js';

// /meta of a group with thousands of children is described by all workers in shares; the
// joined answer must be the one a single worker gives, child for child and in order.

const CHILDREN = 2600;

let dir: string;
let split: TestServer;
let single: TestServer;

before(async () => {
  dir = tempDir('nexus-meta-split-');
  // every 7th child a group, every 11th a soft link, every 13th chunked and compressed with an
  // attribute; the rest plain scalars
  writeH5(
    path.join(dir, 'big.h5'),
    `g = f.create_group('many')
g.attrs['NX_class'] = 'NXcollection'
for i in range(${CHILDREN}):
    name = f'c{i:05d}'
    if i % 7 == 0:
        g.create_group(name).attrs['n'] = i
    elif i % 11 == 0:
        g[name] = h5py.SoftLink('/many/c00001')
    elif i % 13 == 0:
        d = g.create_dataset(name, data=np.arange(40, dtype='<f4'), chunks=(10,), compression='gzip')
        d.attrs['units'] = 'mm'
    else:
        g[name] = i`
  );
  [split, single] = await Promise.all([
    startServer(dir, { workers: 2 }),
    startServer(dir, { workers: 1 })
  ]);
});
after(async () => {
  await Promise.all([split.close(), single.close()]);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a large group described by two workers equals the single-worker answer', async () => {
  const params = { file: 'big.h5', path: '/many' };
  const [a, b] = await Promise.all([split.get('meta', params), single.get('meta', params)]);
  assert.equal(a.status, 200);
  const text = await a.text();
  assert.equal(text, await b.text());
  const meta = JSON.parse(text) as GroupMetadata;
  assert.equal(meta.name, 'many');
  assert.deepEqual(
    meta.attributes.map(x => x.name),
    ['NX_class']
  );
  const children = meta.children!;
  assert.deepEqual(
    children.map(c => c.name),
    Array.from({ length: CHILDREN }, (_, i) => `c${String(i).padStart(5, '0')}`)
  );
  assert.equal(children[7].kind, 'group');
  // soft links to a valid target are resolved (only_valid), as h5grove does
  assert.equal(children[11].kind, 'dataset');
  const chunked = children[13] as DatasetMetadata;
  assert.deepEqual(chunked.chunks, [10]);
  assert.deepEqual(
    chunked.attributes.map(x => x.name),
    ['units']
  );
  assert.equal(chunked.filters![0].id, 1);
  assert.deepEqual((children[CHILDREN - 1] as DatasetMetadata).shape, []);
});
