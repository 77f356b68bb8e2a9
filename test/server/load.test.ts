import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatReport, runLoad } from '../bench/load_bench.js';

// The load benchmark, short: 32 clients for 10 s must see no error at all. Latencies are
// printed, never asserted (npm run bench:load measures them for 60 s).

test('32 concurrent clients requesting /meta and /data for 10 s: 0 errors', async () => {
  const { baseline, load } = await runLoad({ seconds: 10, clients: 32, baselineSeconds: 2 });
  console.log(formatReport(baseline, load));
  assert.deepEqual(load.errors.slice(0, 5), []);
  assert.deepEqual(baseline.errors.slice(0, 5), []);
  assert.ok(load.requests > 32, `${load.requests} requests`);
});
