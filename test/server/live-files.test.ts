import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import type WebSocket from 'ws';
import type { FileChangedEvent } from '../../src/protocol/sites.js';
import { REPO } from './helpers.js';
import { openEvents, startServerProcess, tempDir, type ServerProcess } from './jobs-helpers.js';

// Live files: a writer process (h5py, SWMR and not) appends frames on cue while a client of a
// real server process watches /events. Every append must reach the client (new frame count in
// /meta) within 2 s, and every slab read meanwhile — also by a reader hammering the file during
// the writes — must hold exactly the frame's values (pixel = frame index).

const APPENDS = 50;
const SIZE = 64;
const LIMIT_MS = 2000;

class Writer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  private readonly exited: Promise<unknown>;

  constructor(file: string, mode: 'swmr' | 'plain') {
    this.child = spawn(path.join(REPO, '.venv', 'bin', 'python'), [
      path.join(REPO, 'test', 'fixtures', 'live', 'append_frames.py'),
      file,
      mode,
      String(APPENDS),
      String(SIZE)
    ]);
    this.exited = new Promise(resolve => this.child.once('exit', resolve));
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  async expect(line: string): Promise<void> {
    const next = await this.lines.next();
    assert.equal(next.value, line);
  }

  async append(index: number): Promise<void> {
    this.child.stdin.write('next\n');
    await this.expect(`appended ${index}`);
  }

  async close(): Promise<void> {
    this.child.stdin.end();
    await this.exited;
  }
}

describe('live files over /events', () => {
  let server: ServerProcess;
  let socket: WebSocket;
  const root = tempDir('nexus-live-root-');
  const changes: string[] = [];
  let notify: (() => void) | undefined;

  before(async () => {
    server = await startServerProcess(tempDir('nexus-live-state-'), root);
    socket = await openEvents(server, data => {
      const message = data as { type: string };
      if (message.type === 'file-changed') {
        changes.push((message as FileChangedEvent).file);
        notify?.();
      }
    });
  });

  after(async () => {
    socket.close();
    await server.stop();
  });

  const get = (endpoint: string, params: Record<string, string>) => server.get(endpoint, params);

  async function frameCount(file: string): Promise<number | undefined> {
    const res = await get('meta', { file, path: '/entry/data/data' });
    return res.status === 200 ? ((await res.json()) as { shape: number[] }).shape[0] : undefined;
  }

  /** a slab is either refused or exactly the frame: never anything else */
  async function checkFrame(file: string, index: number): Promise<'ok' | 'refused'> {
    const res = await get('data', {
      file,
      path: '/entry/data/data',
      selection: String(index),
      format: 'bin'
    });
    if (res.status !== 200) {
      await res.arrayBuffer();
      return 'refused';
    }
    const pixels = new Uint16Array(await res.arrayBuffer());
    assert.equal(pixels.length, SIZE * SIZE);
    assert.ok(
      pixels.every(p => p === index),
      `frame ${index} holds ${[...new Set(pixels)].slice(0, 5).join(',')}`
    );
    return 'ok';
  }

  for (const mode of ['swmr', 'plain'] as const) {
    test(`${mode} writer: every append seen within ${LIMIT_MS} ms, no corrupt slab`, async () => {
      const file = `${mode}.h5`;
      const writer = new Writer(path.join(root, file), mode);
      await writer.expect('ready');
      assert.equal(await frameCount(file), 0); // /meta: the server now watches the file

      let hammering = true;
      const hammered = { ok: 0, refused: 0 };
      const hammer = (async () => {
        while (hammering) {
          const count = await frameCount(file);
          if (count) {
            hammered[await checkFrame(file, Math.floor(Math.random() * count))]++;
          }
        }
      })();

      const latencies: number[] = [];
      for (let i = 0; i < APPENDS; i++) {
        await writer.append(i);
        const appended = Date.now();
        // what a panel does: on each notification for its file, read /meta again
        for (;;) {
          const waited = Date.now() - appended;
          assert.ok(waited < LIMIT_MS, `append ${i} not seen after ${waited} ms`);
          const before = changes.length;
          await new Promise<void>(resolve => {
            notify = resolve;
            setTimeout(resolve, LIMIT_MS - waited);
          });
          if (changes.slice(before).includes(file) && (await frameCount(file)) === i + 1) {
            break;
          }
        }
        latencies.push(Date.now() - appended);
        assert.equal(await checkFrame(file, i), 'ok');
      }
      hammering = false;
      await hammer;
      await writer.close();
      latencies.sort((a, b) => a - b);
      process.stdout.write(
        `# ${mode}: notification → new count, median ${latencies[APPENDS >> 1]} ms, max ${latencies.at(-1)} ms; concurrent reads ${hammered.ok} ok, ${hammered.refused} refused\n`
      );
      assert.ok(hammered.ok > 0);
    });
  }
});
