import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeArrayBuffer } from 'geotiff';
import type WebSocket from 'ws';
import type { FileChangedEvent } from '../../src/protocol/sites.js';
import { REPO } from './helpers.js';
import { openEvents, startServerProcess, tempDir, type ServerProcess } from './jobs-helpers.js';

// A folder of frame files served as a virtual NeXus file by a real server process: its /meta
// describes a (frames, rows, cols) stack, /data of a frame holds exactly the file's pixels (the
// frames written here, and real detector TIFFs read back by tifffile), a new frame grows the
// stack and is announced on /events within 2 s, and paths outside the roots stay refused.

const SAVU_TIFFS =
  '/work/shared/testdata/real/DiamondLightSource_Savu/test_data/data/image_test/tiffs';
const DXTBX_CBF = '/work/shared/testdata/real/cctbx_dxtbx/tests/phi_scan_001.cbf';
const ROWS = 12;
const COLS = 16;
const LIMIT_MS = 2000;

/** pixel (r, c) of frame k: distinct across frames, rows and columns */
function framePixels(k: number): Uint16Array {
  return Uint16Array.from({ length: ROWS * COLS }, (_, i) => k * 1000 + i);
}

function writeFrame(folder: string, k: number): void {
  const tiff = writeArrayBuffer(framePixels(k), { width: COLS, height: ROWS });
  fs.writeFileSync(path.join(folder, `frame_${k}.tif`), Buffer.from(tiff));
}

describe('folders of frame files', () => {
  let server: ServerProcess;
  let socket: WebSocket;
  const root = tempDir('nexus-frames-root-');
  const outside = tempDir('nexus-frames-outside-');
  const changes: string[] = [];

  const get = (endpoint: string, params: Record<string, string>) => server.get(endpoint, params);

  async function stackShape(file: string): Promise<number[]> {
    const res = await get('meta', { file, path: '/entry/data/data' });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { shape: number[] }).shape;
  }

  before(async () => {
    fs.mkdirSync(path.join(root, 'scan'));
    for (let k = 0; k < 3; k++) {
      writeFrame(path.join(root, 'scan'), k);
    }
    fs.mkdirSync(path.join(root, 'savu'));
    for (const name of ['raw_00000.tiff', 'raw_00001.tiff', 'raw_00002.tiff']) {
      fs.copyFileSync(path.join(SAVU_TIFFS, name), path.join(root, 'savu', name));
    }
    fs.mkdirSync(path.join(root, 'cbf'));
    for (const name of ['phi_scan_001.cbf', 'phi_scan_002.cbf']) {
      fs.copyFileSync(DXTBX_CBF, path.join(root, 'cbf', name));
    }
    fs.mkdirSync(path.join(root, 'partial'));
    writeFrame(path.join(root, 'partial'), 0);
    // a frame whose writer has not finished yet
    fs.writeFileSync(path.join(root, 'partial', 'frame_1.tif'), Buffer.from('II*\0'));
    fs.mkdirSync(path.join(root, 'empty'));
    fs.writeFileSync(path.join(root, 'empty', 'notes.txt'), 'no frames here');
    writeFrame(outside, 0);
    fs.symlinkSync(outside, path.join(root, 'escape'));

    server = await startServerProcess(tempDir('nexus-frames-state-'), root);
    socket = await openEvents(server, data => {
      const message = data as { type: string };
      if (message.type === 'file-changed') {
        changes.push((message as FileChangedEvent).file);
      }
    });
  });

  after(async () => {
    socket.close();
    await server.stop();
  });

  test('/meta of / leads H5Web to a NXdata stack of the frames', async () => {
    const res = await get('meta', { file: 'scan', path: '/' });
    assert.equal(res.status, 200);
    const rootMeta = (await res.json()) as {
      kind: string;
      attributes: { name: string }[];
      children: { name: string; kind: string; attributes: { name: string }[] }[];
    };
    assert.equal(rootMeta.kind, 'group');
    assert.deepEqual(
      rootMeta.attributes.map(a => a.name),
      ['default']
    );
    assert.deepEqual(
      rootMeta.children.map(c => [c.name, c.kind, c.attributes.map(a => a.name)]),
      [['entry', 'group', ['NX_class', 'default']]]
    );
    const attrs = await (await get('attr', { file: 'scan', path: '/entry/data' })).json();
    assert.deepEqual(attrs, { NX_class: 'NXdata', signal: 'data' });
    const dataset = (await (
      await get('meta', { file: 'scan', path: '/entry/data/data' })
    ).json()) as { shape: number[]; type: { dtype: string } };
    assert.deepEqual(dataset.shape, [3, ROWS, COLS]);
    assert.equal(dataset.type.dtype, '<u2');
  });

  test('/data of frame k holds the written pixels; slices cut rows and columns', async () => {
    for (let k = 0; k < 3; k++) {
      const res = await get('data', {
        file: 'scan',
        path: '/entry/data/data',
        selection: String(k),
        format: 'bin'
      });
      assert.equal(res.status, 200);
      assert.deepEqual(new Uint16Array(await res.arrayBuffer()), framePixels(k));
    }
    const res = await get('data', {
      file: 'scan',
      path: '/entry/data/data',
      selection: '1:3,2,3:5',
      format: 'json'
    });
    const expected = [1, 2].map(k => [3, 4].map(c => k * 1000 + 2 * COLS + c));
    assert.deepEqual(await res.json(), expected);
    const strided = await get('data', {
      file: 'scan',
      path: '/entry/data/data',
      selection: '2,0:12:5,1::6',
      format: 'json'
    });
    const rowsAndCols = [0, 5, 10].map(r => [1, 7, 13].map(c => 2000 + r * COLS + c));
    assert.deepEqual(await strided.json(), rowsAndCols);
  });

  test('real detector TIFFs read back as tifffile reads them', async () => {
    const oracle = JSON.parse(
      execFileSync(path.join(REPO, '.venv', 'bin', 'python'), [
        '-c',
        'import sys, json, tifffile; a = tifffile.imread(sys.argv[1]); ' +
          'print(json.dumps({"shape": a.shape, "dtype": a.dtype.str, "hex": a.astype(a.dtype.newbyteorder("<")).tobytes().hex()}))',
        path.join(root, 'savu', 'raw_00001.tiff')
      ]).toString()
    ) as { shape: number[]; dtype: string; hex: string };
    const meta = (await (await get('meta', { file: 'savu', path: '/entry/data/data' })).json()) as {
      shape: number[];
      type: { dtype: string };
    };
    assert.deepEqual(meta.shape, [3, ...oracle.shape]);
    assert.equal(meta.type.dtype.slice(1), oracle.dtype.slice(1));
    const res = await get('data', {
      file: 'savu',
      path: '/entry/data/data',
      selection: '1',
      format: 'bin',
      dtype: 'origin'
    });
    assert.equal(Buffer.from(await res.arrayBuffer()).toString('hex'), oracle.hex);
  });

  test('a CBF frame reads back as fabio reads it', async () => {
    const oracle = JSON.parse(
      execFileSync(
        path.join(REPO, '.venv', 'bin', 'python'),
        [
          '-c',
          'import sys, json, fabio; a = fabio.open(sys.argv[1]).data; ' +
            'print(json.dumps({"shape": a.shape, "hex": a.astype("<i4").tobytes().hex()}))',
          DXTBX_CBF
        ],
        { maxBuffer: 64 * 2 ** 20 }
      ).toString()
    ) as { shape: number[]; hex: string };
    assert.deepEqual(await stackShape('cbf'), [2, ...oracle.shape]);
    const res = await get('data', {
      file: 'cbf',
      path: '/entry/data/data',
      selection: '1',
      format: 'bin'
    });
    assert.equal(Buffer.from(await res.arrayBuffer()).toString('hex'), oracle.hex);
  });

  test('a frame slice decodes only its own file; an unfinished frame answers 422', async () => {
    assert.deepEqual(await stackShape('partial'), [2, ROWS, COLS]);
    const ok = await get('data', {
      file: 'partial',
      path: '/entry/data/data',
      selection: '0',
      format: 'bin'
    });
    assert.equal(ok.status, 200);
    assert.deepEqual(new Uint16Array(await ok.arrayBuffer()), framePixels(0));
    const unfinished = await get('data', {
      file: 'partial',
      path: '/entry/data/data',
      selection: '1',
      format: 'bin'
    });
    assert.equal(unfinished.status, 422);
    assert.match(
      ((await unfinished.json()) as { message: string }).message,
      /frame_1\.tif: not a readable TIFF/
    );
  });

  test(`a new frame grows the stack and is announced within ${LIMIT_MS} ms`, async () => {
    assert.deepEqual(await stackShape('scan'), [3, ROWS, COLS]); // /meta: now watched
    await new Promise(resolve => setTimeout(resolve, 300)); // the watcher's setup
    for (let k = 3; k < 6; k++) {
      const before = changes.length;
      const written = Date.now();
      writeFrame(path.join(root, 'scan'), k);
      while (!changes.slice(before).includes('scan')) {
        assert.ok(Date.now() - written < LIMIT_MS, `frame ${k} not announced`);
        await new Promise(resolve => setTimeout(resolve, 20));
      }
      assert.deepEqual(await stackShape('scan'), [k + 1, ROWS, COLS]);
      const res = await get('data', {
        file: 'scan',
        path: '/entry/data/data',
        selection: String(k),
        format: 'bin'
      });
      assert.deepEqual(new Uint16Array(await res.arrayBuffer()), framePixels(k));
    }
  });

  test('folders outside the roots are refused; a folder without frames answers 404', async () => {
    for (const file of ['escape', `../${path.basename(outside)}`, '/tmp']) {
      const res = await get('meta', { file, path: '/' });
      assert.equal(res.status, 404, file);
      assert.deepEqual(await res.json(), { message: 'File not found!' });
    }
    const res = await get('meta', { file: 'empty', path: '/' });
    assert.equal(res.status, 404);
    assert.match(
      ((await res.json()) as { message: string }).message,
      /empty is a folder without frame files \(\.tif, \.tiff, \.cbf\)/
    );
  });
});
