import { PathExt } from '@jupyterlab/coreutils';
import { NotebookActions, type NotebookPanel } from '@jupyterlab/notebook';

import type { IViewerSelection } from '../tokens';

/** Python string literal (JSON escapes are valid Python escapes). */
function pyStr(value: string): string {
  return JSON.stringify(value);
}

/** h5grove slice `0,:,2:5` → numpy index `0, :, 2:5`. */
function pyIndex(
  selection: string | undefined,
  shape: number[],
  maxSlab: number
): {
  index: string;
  note?: string;
} {
  if (selection) {
    return { index: selection.split(',').join(', ') };
  }
  if (shape.length === 0) {
    return { index: '()' };
  }
  const size = shape.reduce((a, b) => a * b, 1);
  if (size <= maxSlab) {
    return { index: '...' };
  }
  const rowSize = shape.slice(1).reduce((a, b) => a * b, 1);
  const rows = Math.max(1, Math.floor(maxSlab / rowSize));
  return {
    index: `:${rows}`,
    note: `# Dataset has ${size} elements; reading the first ${rows} along axis 0 (maxSlabSize setting).`
  };
}

/** h5py code that loads what the viewer shows, with paths relative to the notebook. */
export function h5pyCode(
  notebookPath: string,
  filePath: string,
  view: IViewerSelection,
  maxSlab: number
): string {
  const relative = PathExt.relative(PathExt.dirname(notebookPath), filePath);
  const { index, note } = pyIndex(view.selection, view.shape, maxSlab);
  return [
    'import h5py',
    '',
    ...(note ? [note] : []),
    `with h5py.File(${pyStr(relative)}, "r") as f:`,
    `    data = f[${pyStr(view.datasetPath)}][${index}]`,
    'data'
  ].join('\n');
}

export function insertCodeCell(panel: NotebookPanel, code: string): void {
  const notebook = panel.content;
  NotebookActions.insertBelow(notebook);
  const cell = notebook.activeCell;
  if (cell) {
    cell.model.sharedModel.setSource(code);
  }
}
