import type { TranslationBundle } from '@jupyterlab/translation';

import type { CellState, RunEventKind, RunState } from '../protocol/pipelines';

export function cellStateLabel(state: CellState, trans: TranslationBundle): string {
  switch (state) {
    case 'not-started':
      return trans.__('not started');
    case 'queued':
      return trans.__('queued');
    case 'running':
      return trans.__('running');
    case 'done':
      return trans.__('done');
    case 'failed':
      return trans.__('failed');
    case 'canceled':
      return trans.__('canceled');
  }
}

export function runStateLabel(state: RunState, trans: TranslationBundle): string {
  return state === 'done' ? trans.__('completed') : cellStateLabel(state, trans);
}

export function eventKindLabel(kind: RunEventKind, trans: TranslationBundle): string {
  switch (kind) {
    case 'started':
      return trans.__('started');
    case 'completed':
      return trans.__('completed');
    case 'failed':
      return trans.__('failed');
    case 'canceled':
      return trans.__('canceled');
    case 'retried':
      return trans.__('retried');
  }
}

export function formatDuration(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

export function formatTime(iso: string): string {
  return new Date(iso).toLocaleTimeString();
}
