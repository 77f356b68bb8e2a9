import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { REPO, startServer, tempDir, type TestServer } from './helpers.js';

// A corpus of malformed files made from a real NeXus file (copies in a temporary folder):
// truncated at many offsets, bit-flipped headers, random bytes, zero length, an HDF4 file and a
// NeXus-XML file. /meta and /data on each are answered in time with JSON, the server lives on,
// and a worker that dies is replaced.

const REAL = path.resolve(
  REPO,
  '..',
  'shared',
  'testdata',
  'real',
  'nexpy_nexpy',
  'src',
  'nexpy',
  'examples',
  'chopper.nxs'
);
const DATASET = '/entry/data/data';
const SEED = 8;

let dir: string;
let srv: TestServer;
const corpus: string[] = [];

function write(name: string, bytes: Uint8Array): void {
  fs.writeFileSync(path.join(dir, name), bytes);
  corpus.push(name);
}

before(async () => {
  dir = tempDir('nexus-malformed-');
  const real = fs.readFileSync(REAL);
  const offsets = [
    0,
    1,
    7,
    8,
    16,
    47,
    48,
    96,
    512,
    2048,
    ...fc.sample(fc.integer({ min: 1, max: real.length - 1 }), { seed: SEED, numRuns: 30 })
  ];
  for (const offset of offsets) {
    write(`truncated-${offset}.nxs`, real.subarray(0, offset));
  }
  // the superblock and the first object headers and B-trees sit in the first few KiB
  const flips = fc.sample(
    fc.tuple(fc.integer({ min: 0, max: 4095 }), fc.integer({ min: 0, max: 7 })),
    { seed: SEED, numRuns: 40 }
  );
  flips.forEach(([byte, bit], i) => {
    const copy = Buffer.from(real);
    copy[byte] ^= 1 << bit;
    write(`flipped-${i}-${byte}.${bit}.nxs`, copy);
  });
  // every 64th byte of the whole file scrambled: headers deep inside the file too
  const scrambled = Buffer.from(real);
  for (let i = 0; i < scrambled.length; i += 64) {
    scrambled[i] ^= 0xa5;
  }
  write('scrambled.nxs', scrambled);
  fc.sample(fc.uint8Array({ minLength: 1, maxLength: 100_000 }), {
    seed: SEED,
    numRuns: 5
  }).forEach((bytes, i) => write(`random-${i}.h5`, bytes));
  // random bytes behind a valid HDF5 signature
  write(
    'signature-then-random.h5',
    Buffer.concat([
      real.subarray(0, 8),
      Buffer.from(fc.sample(fc.uint8Array(), { seed: SEED, numRuns: 1 })[0])
    ])
  );
  write('empty.h5', new Uint8Array(0));
  // HDF4: its magic number, a data descriptor block header, nothing HDF5 can read
  write(
    'old.hdf',
    Buffer.concat([Buffer.from([0x0e, 0x03, 0x13, 0x01, 0x00, 0x10]), Buffer.alloc(200, 1)])
  );
  write(
    'nexus.xml',
    Buffer.from(
      '<?xml version="1.0" encoding="UTF-8"?>\n<NXroot NeXus_version="4.3.0">\n' +
        '  <NXentry name="entry"><NXdata name="data">\n' +
        '    <data NAPItype="INT32[3]">1 2 3</data>\n  </NXdata></NXentry>\n</NXroot>\n'
    )
  );
  srv = await startServer(dir, { workers: 2, timeoutMs: 20_000 });
});
after(async () => {
  await srv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test(`/meta and /data on each malformed file: answered with JSON, server alive`, async () => {
  const statuses = new Map<number, number>();
  for (const name of corpus) {
    for (const [endpoint, params] of [
      ['meta', { path: '/' }],
      ['meta', { path: DATASET }],
      ['data', { path: DATASET, format: 'bin' }],
      ['data', { path: DATASET, selection: '0:3,0:3' }]
    ] as const) {
      const r = await srv.get(endpoint, { file: name, ...params });
      const text = await r.text();
      const label = `${endpoint} ${name} ${params.path}: ${r.status} ${text.slice(0, 200)}`;
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status !== 200) {
        assert.match(r.headers.get('content-type') ?? '', /application\/json/, label);
        const { message } = JSON.parse(text) as { message?: unknown };
        assert.ok(typeof message === 'string' && message.length > 0, label);
        assert.ok(r.status >= 400 && r.status < 500, label);
      }
    }
  }
  console.log(
    `malformed: ${corpus.length} files, statuses ${JSON.stringify(Object.fromEntries(statuses))}`
  );
  // and the server still reads a sound file right
  const whole = 'whole.nxs';
  fs.copyFileSync(REAL, path.join(dir, whole));
  const r = await srv.get('data', { file: whole, path: DATASET, selection: '0,0:3' });
  assert.equal(r.status, 200);
  assert.equal(((await r.json()) as number[]).length, 3);
});

test('a worker that dies while reading a malformed file is replaced; other files are served', async () => {
  const real = fs.realpathSync(path.join(dir, 'scrambled.nxs'));
  const before = srv.pool.threadIdFor(real);
  const pending = srv.get('data', { file: 'scrambled.nxs', path: DATASET, format: 'bin' });
  await srv.pool.killWorkerFor(real);
  const r = await pending;
  assert.ok(r.status >= 400);
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  assert.notEqual(srv.pool.threadIdFor(real), before);
  fs.copyFileSync(REAL, path.join(dir, 'again.nxs'));
  const again = await srv.get('meta', { file: 'again.nxs', path: DATASET });
  assert.equal(again.status, 200);
});
