import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { readInOrder } from '../../server/h5grove/ordered-reads.js';

test('pieces come out in order; a slow worker takes fewer; read-ahead stays within the window', async () => {
  const takenBy: number[] = [];
  let running = 0;
  let consumedCount = 0;
  let maxAhead = 0;
  const out: number[] = [];
  for await (const v of readInOrder(20, 2, 4, async (piece, worker) => {
    takenBy.push(worker);
    running++;
    maxAhead = Math.max(maxAhead, piece + 1 - consumedCount);
    await sleep(worker === 0 ? 30 : 3); // worker 0 is slowed by other load
    running--;
    return piece * 10;
  })) {
    out.push(v);
    consumedCount++;
  }
  assert.deepEqual(
    out,
    Array.from({ length: 20 }, (_, i) => i * 10)
  );
  // the window, plus the piece the consumer is holding
  assert.ok(maxAhead <= 5, `read ${maxAhead} pieces ahead`);
  const byFast = takenBy.filter(w => w === 1).length;
  assert.ok(byFast > 10, `the fast worker took only ${byFast} of 20 pieces`);
  assert.equal(running, 0);
});

test('a failed piece fails the read at its turn, and no further piece starts', async () => {
  const started: number[] = [];
  const consumed: number[] = [];
  await assert.rejects(async () => {
    for await (const v of readInOrder(50, 2, 4, async piece => {
      started.push(piece);
      await sleep(2);
      if (piece === 3) {
        throw new Error('filter missing');
      }
      return piece;
    })) {
      consumed.push(v);
    }
  }, /filter missing/);
  assert.deepEqual(consumed, [0, 1, 2]);
  await sleep(30);
  assert.ok(Math.max(...started) < 8, `pieces up to ${Math.max(...started)} started`);
});
