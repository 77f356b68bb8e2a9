import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadBudget } from '../../server/h5grove/read-budget.js';

// Admission by size: reads start while their bytes fit, the rest wait in order.

const tick = () => new Promise(resolve => setImmediate(resolve));

test('reads wait until the bytes under way leave room, in arrival order', async () => {
  const budget = new ReadBudget(100);
  const started: string[] = [];
  const take = (name: string, bytes: number) =>
    budget.acquire(bytes).then(release => {
      started.push(name);
      return release;
    });
  const a = take('a', 60);
  const b = take('b', 30);
  const c = take('c', 50);
  const d = take('d', 5);
  await tick();
  // d would fit, but it arrived after c: a large read is not starved by small ones
  assert.deepEqual(started, ['a', 'b']);
  (await a)();
  await tick();
  assert.deepEqual(started, ['a', 'b', 'c', 'd']);
  const releaseB = await b;
  releaseB();
  releaseB(); // a second release frees nothing more
  (await c)();
  (await d)();
  const e = take('e', 100);
  await tick();
  assert.deepEqual(started.at(-1), 'e');
  (await e)();
});

test('a read larger than the whole budget runs alone', async () => {
  const budget = new ReadBudget(100);
  const big = await budget.acquire(1000);
  let small = false;
  const pending = budget.acquire(1).then(release => {
    small = true;
    return release;
  });
  await tick();
  assert.equal(small, false);
  big();
  (await pending)();
  assert.equal(small, true);
});
