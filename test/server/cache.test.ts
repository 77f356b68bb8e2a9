import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResponseCache } from '../../server/h5grove/cache.js';

const body = (n: number) => ({
  body: Buffer.alloc(n),
  contentType: 'application/octet-stream',
  headers: {}
});

test('the response cache evicts least recently used entries beyond its byte budget', () => {
  const c = new ResponseCache(100);
  c.set('a', body(20));
  c.set('b', body(20));
  c.set('c', body(20));
  assert.ok(c.get('a')); // a becomes most recent
  c.set('d', body(20));
  c.set('e', body(20)); // 100 bytes: still fits
  c.set('f', body(20)); // evicts b, the least recently used
  assert.equal(c.get('b'), undefined);
  assert.ok(c.get('a'));
  assert.ok(c.get('f'));
});

test('an entry larger than a quarter of the budget is not cached', () => {
  const c = new ResponseCache(100);
  c.set('big', body(26));
  assert.equal(c.get('big'), undefined);
});
