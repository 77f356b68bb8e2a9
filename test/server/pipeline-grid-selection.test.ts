import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  EMPTY_SELECTION,
  isCellSelected,
  pickAxis,
  pickCell,
  pickMode,
  selectAll
} from '../../src/pipelines/selection.js';

// The sidebar grid's selection (browser code without DOM dependencies): a run covers
// scans × steps, so clicks on cells and headers edit one set per axis.

const scans = ['s1', 's2', 's3', 's4'];
const steps = ['stack', 'max', 'find', 'refine'];

test('modifier keys choose the pick mode; shift wins over ctrl', () => {
  const keys = { shiftKey: false, ctrlKey: false, metaKey: false };
  assert.equal(pickMode(keys), 'replace');
  assert.equal(pickMode({ ...keys, ctrlKey: true }), 'toggle');
  assert.equal(pickMode({ ...keys, metaKey: true }), 'toggle');
  assert.equal(pickMode({ ...keys, shiftKey: true, ctrlKey: true }), 'extend');
});

test('a plain click selects one cell; ctrl-click adds rows and columns in grid order', () => {
  let s = pickCell(EMPTY_SELECTION, scans, steps, 's3', 'find', 'replace');
  assert.deepEqual([s.scans, s.steps], [['s3'], ['find']]);
  s = pickCell(s, scans, steps, 's1', 'stack', 'toggle');
  assert.deepEqual(
    [s.scans, s.steps],
    [
      ['s1', 's3'],
      ['stack', 'find']
    ]
  );
  assert.ok(isCellSelected(s, 's3', 'stack'));
  // ctrl-click on a selected cell takes its scan out
  s = pickCell(s, scans, steps, 's3', 'stack', 'toggle');
  assert.deepEqual([s.scans, s.steps], [['s1'], ['stack', 'find']]);
});

test('shift-click selects the rectangle from the anchor, in either direction', () => {
  let s = pickCell(EMPTY_SELECTION, scans, steps, 's3', 'refine', 'replace');
  s = pickCell(s, scans, steps, 's2', 'max', 'extend');
  assert.deepEqual(
    [s.scans, s.steps],
    [
      ['s2', 's3'],
      ['max', 'find', 'refine']
    ]
  );
  // the anchor stays where the range started
  s = pickCell(s, scans, steps, 's4', 'refine', 'extend');
  assert.deepEqual([s.scans, s.steps], [['s3', 's4'], ['refine']]);
});

test('a scan header selects the whole row of runnable steps; ctrl adds another row', () => {
  let s = pickAxis(EMPTY_SELECTION, 'scans', scans, ['stack', 'max'], 's2', 'replace');
  assert.deepEqual([s.scans, s.steps], [['s2'], ['stack', 'max']]);
  s = pickAxis(s, 'scans', scans, ['stack', 'max'], 's4', 'toggle');
  assert.deepEqual(
    [s.scans, s.steps],
    [
      ['s2', 's4'],
      ['stack', 'max']
    ]
  );
  s = pickAxis(s, 'scans', scans, ['stack', 'max'], 's2', 'toggle');
  assert.deepEqual(s.scans, ['s4']);
});

test('a step header selects the column for every scan; shift extends over steps', () => {
  let s = pickAxis(EMPTY_SELECTION, 'steps', steps, scans, 'max', 'replace');
  assert.deepEqual([s.scans, s.steps], [scans, ['max']]);
  s = pickAxis(s, 'steps', steps, scans, 'refine', 'extend');
  assert.deepEqual([s.scans, s.steps], [scans, ['max', 'find', 'refine']]);
});

test('select all takes every scan and the given steps', () => {
  const s = selectAll(scans, ['stack', 'max']);
  assert.equal(s.scans.length * s.steps.length, 8);
  assert.deepEqual(selectAll([], steps).anchor, null);
});
