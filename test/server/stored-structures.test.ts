import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { File as H5File, Module, ready } from 'h5wasm/node';
import type { Dataset, Group } from 'h5wasm/node';
import { normalizeSelection } from '../../server/h5grove/selection.js';
import { withChildHeaders } from '../../server/hdf5/child-headers.js';
import { readChunksDirect } from '../../server/hdf5/direct-chunk-read.js';
import { describeChildren } from '../../server/hdf5/entities.js';
import type { FileKey } from '../../server/hdf5/messages.js';
import { readBytes } from '../../server/hdf5/reads.js';
import { tempDir, writeH5 } from './helpers.js';

// Reads of HDF5's own structures (server/hdf5/file-format.ts and its users) against HDF5 itself
// through h5wasm: chunks read and inflated directly give the bytes HDF5 gives, for every index
// kind read that way, and everything else is left to HDF5; children described from their object
// headers equal h5wasm's description.

let dir: string;

const STACK = `a = (np.arange(7 * 33 * 21, dtype='<i4').reshape(7, 33, 21) * 37) % 1001 - 300`;
const DATASETS = `${STACK}
f.create_dataset('gzip', data=a, chunks=(2, 10, 8), compression='gzip')
f.create_dataset('plain', data=a.astype('<f8') / 3, chunks=(3, 7, 21))
f.create_dataset('single', data=a, chunks=a.shape, compression='gzip')
f.create_dataset('bytes', data=(a % 256).astype('u1'), chunks=(1, 33, 21), compression='gzip', compression_opts=9)
f.create_dataset('shuffled', data=a, chunks=(2, 10, 8), compression='gzip', shuffle=True)
f.create_dataset('big_endian', data=a.astype('>i4'), chunks=(2, 10, 8), compression='gzip')
s = f.create_dataset('sparse', shape=a.shape, dtype='<i2', chunks=(2, 10, 8), compression='gzip', fillvalue=-3)
s[0:2, 0:10, 0:8] = 5
f.create_group('g').create_dataset('deep', data=a, chunks=(2, 10, 8), compression='gzip')
f['soft'] = h5py.SoftLink('/g/deep')`;

const SELECTIONS = [
  '',
  '0',
  '3,5,7',
  ':,20,:',
  '1:6:2,::3,5:',
  '-1',
  ':,:,20',
  '2:5,10:20,8:16',
  '::4,32,::5',
  ':,32,:'
];

before(async () => {
  await ready;
  Module.activate_throwing_error_handler();
  dir = tempDir('nexus-stored-structures-');
  writeH5(path.join(dir, 'earliest.h5'), DATASETS);
  // libver v110: chunk indexes fixed array, single chunk and extensible array (layout v4)
  const v110 = path.join(dir, 'v110.h5');
  writeH5(
    v110,
    `f.close()
f = h5py.File(${JSON.stringify(v110)}, 'w', libver=('v110', 'v110'))
${DATASETS}
f.create_dataset('growing', data=a, chunks=(2, 10, 8), compression='gzip', maxshape=(None, 33, 21))
f.close()`
  );
  writeH5(
    path.join(dir, 'link-target.h5'),
    `${STACK}\nf.create_dataset('g/deep', data=a[::-1].copy(), chunks=(2, 10, 8), compression='gzip')`
  );
  writeH5(path.join(dir, 'links.h5'), `f['outside'] = h5py.ExternalLink('link-target.h5', '/g')`);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function open(name: string): { file: H5File; key: FileKey } {
  const realPath = path.join(dir, name);
  const st = fs.statSync(realPath);
  return { file: new H5File(realPath, 'r'), key: { realPath, mtimeMs: st.mtimeMs, size: st.size } };
}

/** direct bytes (null: left to HDF5) after checking them against HDF5's, per selection */
function directReads(name: string, dataset: string): (ArrayBuffer | null)[] {
  const { file, key } = open(name);
  try {
    const ds = file.get(dataset) as Dataset;
    return SELECTIONS.map(selection => {
      const { axes } = normalizeSelection(selection, ds.metadata.shape!);
      const direct = readChunksDirect(key, file, ds, dataset, axes);
      if (direct !== null) {
        const hdf5 = readBytes(ds, dataset, axes);
        assert.ok(
          Buffer.from(direct).equals(Buffer.from(hdf5)),
          `${name} ${dataset} [${selection}]`
        );
      }
      return direct;
    });
  } finally {
    file.close();
  }
}

test('gzip and unfiltered chunks read directly equal HDF5 for every chunk index kind read so', () => {
  for (const name of ['earliest.h5', 'v110.h5']) {
    for (const dataset of ['/gzip', '/plain', '/single', '/bytes', '/g/deep', '/soft']) {
      const reads = directReads(name, dataset);
      // all but the empty selection (2:5,10:20,... is not empty; ::4,32,::5 and :,32,: are)
      assert.ok(reads.filter(r => r !== null).length >= 8, `${name} ${dataset} read directly`);
    }
  }
});

test('other filters, byte orders, unwritten chunks, other indexes and other files are left to HDF5', () => {
  for (const dataset of ['/shuffled', '/big_endian']) {
    assert.ok(
      directReads('earliest.h5', dataset).every(r => r === null),
      dataset
    );
  }
  // a chunk never written holds the fill value, which only HDF5 knows: any read touching one
  const sparse = directReads('earliest.h5', '/sparse');
  assert.ok(sparse[SELECTIONS.indexOf('')] === null);
  assert.ok(sparse[SELECTIONS.indexOf('3,5,7')] === null);
  // extensible array index (a dataset that can grow)
  assert.ok(directReads('v110.h5', '/growing').every(r => r === null));
  // through an external link the object is in another file, whose chunks must not be looked
  // for in this one
  assert.ok(directReads('links.h5', '/outside/deep').every(r => r === null));
});

test('children described from their object headers equal h5wasm, and cover the simple ones', () => {
  writeH5(
    path.join(dir, 'children.h5'),
    `g = f.create_group('g')
for i in range(200):
    g[f'int_{i:03d}'] = np.int64(i)
    g[f'float_{i:03d}'] = np.arange(i % 5, dtype='>f4')
g['half'] = np.float16(1.5)
g['text'] = 'text'
g['fixed'] = np.array([b'ab', b'c'], dtype='S2')
g['complex'] = np.complex64(1 + 2j)
g['flag'] = np.bool_(True)
g['empty'] = h5py.Empty('f4')
g.create_dataset('chunked', data=np.arange(10), chunks=(5,), compression='gzip')
g['with_attrs'] = np.int32(5)
g['with_attrs'].attrs['units'] = 'mm'
g['with_attrs'].attrs['scale'] = 0.5
g.create_group('sub').attrs['NX_class'] = 'NXcollection'
g['soft'] = h5py.SoftLink('/g/int_000')
g['dangling'] = h5py.SoftLink('/nowhere')
# an external link would turn g into a new-style group, which has no symbol table
f['external'] = h5py.ExternalLink('missing.h5', '/x')`
  );
  const { file, key } = open('children.h5');
  try {
    const names = (file.get('/g') as Group).keys();
    const plain = describeChildren(file, '/g', names);
    let fromHeaders = 0;
    const viaHeaders = withChildHeaders(key, file, '/g', headers => {
      fromHeaders = names.filter(n => headers(n)?.dataset).length;
      return describeChildren(file, '/g', names, headers);
    });
    assert.deepEqual(viaHeaders, plain);
    // 400 numbers, half, with_attrs; not text, compound, enum, empty, chunked, groups, links
    assert.equal(fromHeaders, 402);
  } finally {
    file.close();
  }
});
