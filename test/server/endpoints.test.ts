import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { DatasetMetadata, GroupMetadata } from '../../src/protocol/h5grove.js';
import type { PoolRequest } from '../../server/hdf5/pool.js';
import { startServer, tempDir, writeH5, type TestServer } from './helpers.js';

let dir: string;
let srv: TestServer;

before(async () => {
  dir = tempDir('nexus-endpoints-');
  writeH5(
    path.join(dir, 't.h5'),
    `f.attrs['NX_class'] = 'NXroot'
f.attrs['b_attr'] = np.arange(4).reshape(2, 2)
e = f.create_group('entry')
e['data'] = np.arange(24, dtype='>f8').reshape(2, 3, 4)
e.create_dataset('c', data=np.arange(1000, dtype='<i4').reshape(10, 100), chunks=(1, 100), compression='gzip', shuffle=True)
f['f16'] = np.array([1.5, 2, -0.25], dtype='>f2')
f['nan'] = np.array([1, np.nan, np.inf])
f['s'] = 'hello'
f['bools'] = np.array([True, False])
f['i64'] = np.array([2**40, -1], dtype='<i8')
f['scalar'] = 3.5
f['empty'] = h5py.Empty('f4')
f['soft'] = h5py.SoftLink('/entry/data')
f['broken'] = h5py.SoftLink('/nowhere')
f['ext'] = h5py.ExternalLink('missing.h5', '/x')`
  );
  srv = await startServer(dir);
});
after(async () => {
  await srv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function json(
  endpoint: string,
  params: Record<string, string>,
  status = 200
): Promise<unknown> {
  const r = await srv.get(endpoint, params);
  const body = Buffer.from(await r.arrayBuffer());
  assert.equal(r.status, status, body.toString());
  assert.equal(r.headers.get('content-length'), String(body.length));
  return JSON.parse(body.toString());
}

test('health check, GET and HEAD, with Content-Length', async () => {
  const r = await srv.get('');
  assert.equal(r.status, 200);
  assert.equal(await r.text(), 'ok');
  const h = await fetch(`${srv.url}/`, {
    method: 'HEAD',
    headers: { Authorization: `token ${srv.token}` }
  });
  assert.equal(h.status, 200);
  assert.equal(h.headers.get('content-length'), '2');
});

test('missing or wrong token is 401 JSON', async () => {
  const variants: Record<string, string>[] = [
    {},
    { Authorization: 'token nope' },
    { Authorization: 'Bearer test-token' }
  ];
  for (const headers of variants) {
    const r = await srv.get('meta', { file: 't.h5' }, headers);
    assert.equal(r.status, 401);
    assert.equal(typeof ((await r.json()) as { message: string }).message, 'string');
  }
});

test('/meta on the root: sorted attributes, children at depth 1, broken links as link entities', async () => {
  const meta = (await json('meta', { file: 't.h5' })) as GroupMetadata;
  assert.equal(meta.kind, 'group');
  assert.equal(meta.name, '');
  assert.deepEqual(
    meta.attributes.map(a => a.name),
    ['NX_class', 'b_attr']
  );
  const children = meta.children!;
  const entry = children.find(c => c.name === 'entry') as GroupMetadata;
  assert.equal(entry.kind, 'group');
  assert.equal('children' in entry, false);
  assert.deepEqual(
    children.find(c => c.name === 'broken'),
    { kind: 'soft_link', name: 'broken', target_path: '/nowhere' }
  );
  assert.deepEqual(
    children.find(c => c.name === 'ext'),
    {
      kind: 'external_link',
      name: 'ext',
      target_file: 'missing.h5',
      target_path: '/x'
    }
  );
  // a valid soft link is resolved under the link's name
  assert.equal(children.find(c => c.name === 'soft')?.kind, 'dataset');
});

test('/meta on datasets: dtype strings, chunks and filters', async () => {
  const be = (await json('meta', { file: 't.h5', path: '/entry/data' })) as DatasetMetadata;
  assert.deepEqual(be.type, { class: 1, dtype: '>f8', size: 8, order: 1 });
  assert.deepEqual(be.shape, [2, 3, 4]);
  assert.equal(be.chunks, null);
  assert.equal(be.filters, null);
  const c = (await json('meta', { file: 't.h5', path: '/entry/c' })) as DatasetMetadata;
  assert.deepEqual(c.chunks, [1, 100]);
  assert.deepEqual(c.filters, [
    { id: 2, name: 'shuffle' },
    { id: 1, name: 'deflate' }
  ]);
  assert.deepEqual(c.type, { class: 0, dtype: '<i4', size: 4, order: 0, sign: 1 });
  const empty = (await json('meta', { file: 't.h5', path: '/empty' })) as DatasetMetadata;
  assert.equal(empty.shape, null);
});

test('resolve_links values', async () => {
  assert.deepEqual(await json('meta', { file: 't.h5', path: '/soft', resolve_links: 'none' }), {
    kind: 'soft_link',
    name: 'soft',
    target_path: '/entry/data'
  });
  assert.equal(
    (
      (await json('meta', {
        file: 't.h5',
        path: '/soft',
        resolve_links: 'true'
      })) as DatasetMetadata
    ).kind,
    'dataset'
  );
  const broken = (await json(
    'meta',
    { file: 't.h5', path: '/broken', resolve_links: 'all' },
    404
  )) as { message: string };
  assert.match(broken.message, /^Cannot resolve .* at \/broken of t\.h5$/);
  await json('meta', { file: 't.h5', resolve_links: 'maybe' }, 422);
});

test('trailing slash is served directly, never redirected', async () => {
  for (const ep of ['meta/', 'attr/', 'paths/', 'data/', 'stats/']) {
    const r = await srv.get(ep, {
      file: 't.h5',
      path: ep === 'meta/' || ep === 'attr/' || ep === 'paths/' ? '/' : '/entry/c'
    });
    assert.equal(r.status, 200, ep);
  }
});

test('/data JSON: negative indices, index members drop axes, flatten', async () => {
  assert.deepEqual(
    await json('data', { file: 't.h5', path: '/entry/data', selection: '-1,1:,-2' }),
    [18, 22]
  );
  assert.deepEqual(
    await json('data', { file: 't.h5', path: '/entry/data', selection: '0,0:2,::2' }),
    [
      [0, 2],
      [4, 6]
    ]
  );
  assert.deepEqual(
    await json('data', {
      file: 't.h5',
      path: '/entry/data',
      selection: '0,0:2,::2',
      flatten: 'true'
    }),
    [0, 2, 4, 6]
  );
  assert.deepEqual(await json('data', { file: 't.h5', path: '/nan' }), [1, null, null]);
  assert.deepEqual(await json('data', { file: 't.h5', path: '/bools' }), [true, false]);
  assert.deepEqual(await json('data', { file: 't.h5', path: '/i64' }), [2 ** 40, -1]);
  assert.equal(await json('data', { file: 't.h5', path: '/s' }), 'hello');
  assert.equal(await json('data', { file: 't.h5', path: '/scalar', flatten: 'true' }), 3.5);
  assert.equal(await json('data', { file: 't.h5', path: '/empty' }), null);
});

test('/data bin: origin keeps byte order, safe is little-endian and widens float16', async () => {
  const origin = Buffer.from(
    await (
      await srv.get('data', {
        file: 't.h5',
        path: '/entry/data',
        selection: '0,0,1',
        format: 'bin'
      })
    ).arrayBuffer()
  );
  assert.equal(origin.readDoubleBE(0), 1);
  const safe = Buffer.from(
    await (
      await srv.get('data', {
        file: 't.h5',
        path: '/entry/data',
        selection: '0,0,1',
        format: 'bin',
        dtype: 'safe'
      })
    ).arrayBuffer()
  );
  assert.equal(safe.readDoubleLE(0), 1);
  const half = Buffer.from(
    await (
      await srv.get('data', { file: 't.h5', path: '/f16', format: 'bin', dtype: 'safe' })
    ).arrayBuffer()
  );
  assert.deepEqual(Array.from(new Float32Array(half.buffer, half.byteOffset, 3)), [1.5, 2, -0.25]);
  const halfOrigin = Buffer.from(
    await (await srv.get('data', { file: 't.h5', path: '/f16', format: 'bin' })).arrayBuffer()
  );
  assert.equal(halfOrigin.length, 6);
  assert.equal(halfOrigin.readUInt16BE(0), 0x3e00);
});

test('/data npy and csv', async () => {
  const r = await srv.get('data', { file: 't.h5', path: '/f16', format: 'npy', dtype: 'safe' });
  assert.equal(r.headers.get('content-disposition'), 'attachment; filename="data.npy"');
  const npy = Buffer.from(await r.arrayBuffer());
  assert.equal(npy.subarray(0, 6).toString('latin1'), '\x93NUMPY');
  const headerLen = npy.readUInt16LE(8);
  assert.equal((10 + headerLen) % 64, 0);
  assert.match(npy.subarray(10, 10 + headerLen).toString(), /'descr': '<f4'.*'shape': \(3,\)/);
  assert.equal(npy.length, 10 + headerLen + 12);
  const csv = await (
    await srv.get('data', { file: 't.h5', path: '/entry/c', selection: '1:3,::40', format: 'csv' })
  ).text();
  assert.equal(csv, '100,140,180\n200,240,280\n');
});

test('error codes and phrases', async () => {
  assert.deepEqual(await json('meta', { file: 'nope.h5' }, 404), { message: 'File not found!' });
  assert.deepEqual(await json('meta', { file: '../t.h5' }, 404), { message: 'File not found!' });
  assert.deepEqual(await json('meta', { file: 't.h5', path: '/nope' }, 404), {
    message: '/nope is not a valid path in t.h5'
  });
  await json('data', { file: 't.h5', path: '/entry' }, 500);
  await json('data', { file: 't.h5', path: '/entry/data', selection: '0,0,0,0' }, 500);
  await json('data', { file: 't.h5', path: '/entry/data', format: 'xml' }, 422);
  await json('data', { file: 't.h5', path: '/entry/data', dtype: 'foo' }, 422);
  assert.deepEqual(await json('data', { file: 't.h5', path: '/s', dtype: 'safe' }, 422), {
    message: 'Unsupported dtype safe for non-numeric data'
  });
  await json('data', { file: 't.h5', path: '/s', format: 'npy' }, 422);
  await json('data', { file: 't.h5', path: '/scalar', format: 'csv' }, 422);
  await json('attr', { file: 't.h5', attr_keys: 'missing' }, 404);
  await json('nothing', { file: 't.h5' }, 404);
});

test('/attr, /paths and /stats', async () => {
  assert.deepEqual(await json('attr', { file: 't.h5' }), {
    NX_class: 'NXroot',
    b_attr: [
      [0, 1],
      [2, 3]
    ]
  });
  assert.deepEqual(await json('attr', { file: 't.h5', attr_keys: 'NX_class' }), {
    NX_class: 'NXroot'
  });
  const paths = (await json('paths', { file: 't.h5', path: '/entry' })) as string[];
  assert.deepEqual(paths, ['/entry', '/entry/c', '/entry/data']);
  assert.deepEqual(await json('stats', { file: 't.h5', path: '/nan' }), {
    strict_positive_min: 1,
    positive_min: 1,
    min: 1,
    max: 1,
    mean: 1,
    std: 0
  });
  const s = (await json('stats', { file: 't.h5', path: '/entry/c', selection: '0,0:4' })) as Record<
    string,
    number
  >;
  // integer data: every statistic is cast to int, as in the reference
  assert.deepEqual(s, { strict_positive_min: 1, positive_min: 0, min: 0, max: 3, mean: 1, std: 1 });
});

test('a rewritten file is not served stale (cache keys include mtime and size)', async () => {
  const f = path.join(dir, 'w.h5');
  writeH5(f, `f['x'] = np.array([1, 2, 3])`);
  assert.deepEqual(await json('data', { file: 'w.h5', path: '/x' }), [1, 2, 3]);
  writeH5(f, `f['x'] = np.array([7, 8, 9, 10])\nf['y'] = 1`);
  assert.deepEqual(await json('data', { file: 'w.h5', path: '/x' }), [7, 8, 9, 10]);
  const meta = (await json('meta', { file: 'w.h5' })) as GroupMetadata;
  assert.deepEqual(
    meta.children!.map(c => c.name),
    ['x', 'y']
  );
});

test('cross-section reads split over workers match a whole read', async () => {
  const f = path.join(dir, 'big.h5');
  writeH5(
    f,
    `f.create_dataset('v', data=np.arange(64*128*160, dtype='<f4').reshape(64, 128, 160), chunks=(1, 128, 160), compression='gzip')`
  );
  const r = await srv.get('data', {
    file: 'big.h5',
    path: '/v',
    selection: ':,5,:',
    format: 'bin'
  });
  const buf = Buffer.from(await r.arrayBuffer());
  const v = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  assert.equal(v.length, 64 * 160);
  for (const [i, j] of [
    [0, 0],
    [31, 7],
    [63, 159]
  ]) {
    assert.equal(v[i * 160 + j], i * 128 * 160 + 5 * 160 + j);
  }
  const whole = Buffer.from(
    await (await srv.get('data', { file: 'big.h5', path: '/v', format: 'bin' })).arrayBuffer()
  );
  assert.equal(whole.length, 64 * 128 * 160 * 4);
  assert.equal(
    new Float32Array(whole.buffer, whole.byteOffset, whole.length / 4)[64 * 128 * 160 - 1],
    64 * 128 * 160 - 1
  );
});

test('uint64 JSON is exact; ASCII strings are decoded as UTF-8; float16 attributes read', async () => {
  const f = path.join(dir, 'types.h5');
  writeH5(
    f,
    `f['u64'] = np.array([0, 2**64 - 1], dtype='<u8')
f.attrs.create('units', np.bytes_('\\u00b5m'.encode('utf-8')))
f.attrs['half'] = np.array([0.5, -2], dtype='<f2')`
  );
  const r = await srv.get('data', { file: 'types.h5', path: '/u64' });
  assert.equal(await r.text(), '[0,18446744073709551615]');
  assert.deepEqual(await json('attr', { file: 'types.h5' }), { half: [0.5, -2], units: '\u00b5m' });
});

test('ASCII strings with bytes 0x80-0x9f, invalid UTF-8, and 2-D array-type JSON', async () => {
  const f = path.join(dir, 'types2.h5');
  writeH5(
    f,
    `f['s'] = np.array(['\\u20ac \\u03bcm'.encode(), b'\\xb5m'], dtype='S8')
d = f.create_dataset('arr', shape=(2, 2), dtype=np.dtype(('<i2', (3,))))
d[...] = np.arange(12, dtype='<i2').reshape(2, 2, 3)`
  );
  assert.deepEqual(await json('data', { file: 'types2.h5', path: '/s' }), [
    '\u20ac \u03bcm',
    '\u00b5m'
  ]);
  const all = [
    [
      [0, 1, 2],
      [3, 4, 5]
    ],
    [
      [6, 7, 8],
      [9, 10, 11]
    ]
  ];
  assert.deepEqual(await json('data', { file: 'types2.h5', path: '/arr' }), all);
  assert.deepEqual(
    await json('data', { file: 'types2.h5', path: '/arr', selection: '1,1' }),
    [9, 10, 11]
  );
  assert.deepEqual(await json('data', { file: 'types2.h5', path: '/arr', selection: ':,1:2' }), [
    [[3, 4, 5]],
    [[9, 10, 11]]
  ]);
  assert.deepEqual(
    await json('data', { file: 'types2.h5', path: '/arr', flatten: 'true' }),
    all.flat(2)
  );
});

test('/data on a dangling link is a JSON 404 naming the link', async () => {
  const body = (await json('data', { file: 't.h5', path: '/broken', format: 'bin' }, 404)) as {
    message: string;
  };
  assert.match(body.message, /^Cannot resolve/);
});

test('old-style NXdata (signal=1 on the dataset) gets group-level signal and axes', async () => {
  writeH5(
    path.join(dir, 'legacy.h5'),
    `g = f.create_group('entry/data')
g.attrs['NX_class'] = 'NXdata'
d = g.create_dataset('counts', data=np.zeros((2, 3)))
d.attrs['signal'] = 1
d.attrs['axes'] = 'y:x'
g['x'] = np.arange(3)
g['y'] = np.arange(2)
m = f.create_group('entry/modern')
m.attrs['NX_class'] = 'NXdata'
m.attrs['signal'] = 'v'
m['v'] = np.arange(3)
m['v'].attrs['signal'] = 1`
  );
  const meta = (await json('meta', { file: 'legacy.h5', path: '/entry/data' })) as GroupMetadata;
  assert.deepEqual(
    meta.attributes.map(a => [a.name, a.shape]),
    [
      ['NX_class', []],
      ['axes', [2]],
      ['signal', []]
    ]
  );
  assert.deepEqual(await json('attr', { file: 'legacy.h5', path: '/entry/data' }), {
    NX_class: 'NXdata',
    axes: ['y', 'x'],
    signal: 'counts'
  });
  // a group that already has `signal` is left alone
  assert.deepEqual(await json('attr', { file: 'legacy.h5', path: '/entry/modern' }), {
    NX_class: 'NXdata',
    signal: 'v'
  });
});

test('a file that is not HDF5 is a clear JSON error, and the worker keeps serving', async () => {
  fs.writeFileSync(path.join(dir, 'not.h5'), 'this is text');
  const body = (await json('meta', { file: 'not.h5' }, 422)) as { message: string };
  assert.equal(body.message, 'Cannot open not.h5: not an HDF5 file, or damaged');
  assert.equal(((await json('meta', { file: 't.h5' })) as GroupMetadata).kind, 'group');
});

test('a broken file is opened once for repeated /meta, and again once it is rewritten', async () => {
  const f = path.join(dir, 'broken.h5');
  fs.writeFileSync(f, Buffer.alloc(4096, 0x41));
  const metaRuns: string[] = [];
  const run = srv.pool.run.bind(srv.pool);
  srv.pool.run = <T>(req: PoolRequest, slot?: number): Promise<T> => {
    if (req.op === 'meta') {
      metaRuns.push(req.basename);
    }
    return run<T>(req, slot);
  };
  try {
    for (let i = 0; i < 5; i++) {
      const body = (await json('meta', { file: 'broken.h5' }, 422)) as { message: string };
      assert.equal(body.message, 'Cannot open broken.h5: not an HDF5 file, or damaged');
    }
    assert.deepEqual(metaRuns, ['broken.h5']);
    writeH5(f, `f['x'] = 1`);
    const meta = (await json('meta', { file: 'broken.h5' })) as GroupMetadata;
    assert.deepEqual(
      meta.children!.map(c => c.name),
      ['x']
    );
  } finally {
    srv.pool.run = run;
  }
});
