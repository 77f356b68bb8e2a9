import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeSelection } from '../../server/h5grove/selection.js';
import { HttpError } from '../../server/http/errors.js';

function status(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof HttpError);
    return e.status;
  }
  return 200;
}

test('no selection selects everything', () => {
  const s = normalizeSelection(undefined, [3, 4]);
  assert.deepEqual(s.shape, [3, 4]);
  assert.deepEqual(s.axes[1], { start: 0, stop: 4, step: 1, drop: false });
});

test('index member drops its axis; trailing axes are whole', () => {
  const s = normalizeSelection('1', [3, 4, 5]);
  assert.deepEqual(s.shape, [4, 5]);
  assert.deepEqual(s.axes[0], { start: 1, stop: 2, step: 1, drop: true });
});

test('negative index and bounds count from the end', () => {
  const s = normalizeSelection('-1,-3:,:-1', [10, 10, 10]);
  assert.deepEqual(s.axes[0], { start: 9, stop: 10, step: 1, drop: true });
  assert.deepEqual(s.axes[1], { start: 7, stop: 10, step: 1, drop: false });
  assert.deepEqual(s.axes[2], { start: 0, stop: 9, step: 1, drop: false });
  assert.deepEqual(s.shape, [3, 9]);
});

test('steps give ceil(len/step) elements and bounds clamp like NumPy', () => {
  assert.deepEqual(normalizeSelection('::3', [10]).shape, [4]);
  assert.deepEqual(normalizeSelection('1:100:2', [10]).shape, [5]);
  assert.deepEqual(normalizeSelection('-100:2', [10]).shape, [2]);
  assert.deepEqual(normalizeSelection('5:2', [10]).shape, [0]);
  assert.deepEqual(normalizeSelection(' 2 : 4 ', [10]).shape, [2]);
});

test('scalar dataset with empty selection yields a scalar shape', () => {
  assert.deepEqual(normalizeSelection('', []).shape, []);
});

test('errors are 500 as in the reference', () => {
  assert.equal(
    status(() => normalizeSelection('0,0,0', [2, 2])),
    500
  );
  assert.equal(
    status(() => normalizeSelection('1:2:3:4', [10])),
    500
  );
  assert.equal(
    status(() => normalizeSelection('::0', [10])),
    500
  );
  assert.equal(
    status(() => normalizeSelection('::-1', [10])),
    500
  );
  assert.equal(
    status(() => normalizeSelection('a', [10])),
    500
  );
  assert.equal(
    status(() => normalizeSelection('10', [10])),
    500
  );
  assert.equal(
    status(() => normalizeSelection('-11', [10])),
    500
  );
  assert.equal(
    status(() => normalizeSelection('-10', [10])),
    200
  );
});
