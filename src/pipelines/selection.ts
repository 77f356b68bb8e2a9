// Which scans and steps the next Run covers. A run is a product (scans × steps), so the
// selection is one set per axis; a cell is selected when its scan and its step both are.

export interface IGridSelection {
  scans: string[];
  steps: string[];
  /** where a shift-click range starts */
  anchor: { scan: string; step: string } | null;
}

/** plain click: only this; ctrl/cmd: add or remove; shift: range from the anchor */
export type PickMode = 'replace' | 'toggle' | 'extend';

export const EMPTY_SELECTION: IGridSelection = { scans: [], steps: [], anchor: null };

export function pickMode(event: {
  shiftKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
}): PickMode {
  if (event.shiftKey) {
    return 'extend';
  }
  return event.ctrlKey || event.metaKey ? 'toggle' : 'replace';
}

export function isCellSelected(selection: IGridSelection, scan: string, step: string): boolean {
  return selection.scans.includes(scan) && selection.steps.includes(step);
}

/** Keeps `order`'s order, so the run request lists scans and steps as the grid shows them. */
function ordered(order: string[], items: Set<string>): string[] {
  return order.filter(item => items.has(item));
}

function range(order: string[], from: string, to: string): string[] {
  const a = order.indexOf(from);
  const b = order.indexOf(to);
  if (a < 0 || b < 0) {
    return [to];
  }
  return order.slice(Math.min(a, b), Math.max(a, b) + 1);
}

export function pickCell(
  selection: IGridSelection,
  scanOrder: string[],
  stepOrder: string[],
  scan: string,
  step: string,
  mode: PickMode
): IGridSelection {
  if (mode === 'extend' && selection.anchor) {
    return {
      scans: range(scanOrder, selection.anchor.scan, scan),
      steps: range(stepOrder, selection.anchor.step, step),
      anchor: selection.anchor
    };
  }
  if (mode === 'toggle') {
    const scans = new Set(selection.scans);
    const steps = new Set(selection.steps);
    if (isCellSelected(selection, scan, step)) {
      // Taking the whole row out is what a product selection can express.
      scans.delete(scan);
    } else {
      scans.add(scan);
      steps.add(step);
    }
    return {
      scans: ordered(scanOrder, scans),
      steps: ordered(stepOrder, steps),
      anchor: { scan, step }
    };
  }
  return { scans: [scan], steps: [step], anchor: { scan, step } };
}

/** A row or column header: picks along that axis, keeping (or, on a plain click, filling) the other. */
export function pickAxis(
  selection: IGridSelection,
  axis: 'scans' | 'steps',
  order: string[],
  otherAll: string[],
  item: string,
  mode: PickMode
): IGridSelection {
  const other = axis === 'scans' ? 'steps' : 'scans';
  const anchorItem = selection.anchor?.[axis === 'scans' ? 'scan' : 'step'];
  let picked: string[];
  if (mode === 'extend' && anchorItem) {
    picked = range(order, anchorItem, item);
  } else if (mode === 'toggle') {
    const set = new Set(selection[axis]);
    if (set.has(item)) {
      set.delete(item);
    } else {
      set.add(item);
    }
    picked = ordered(order, set);
  } else {
    picked = [item];
  }
  const keepOther = mode !== 'replace' && selection[other].length > 0;
  const next = {
    [axis]: picked,
    [other]: keepOther ? selection[other] : otherAll
  } as Pick<IGridSelection, 'scans' | 'steps'>;
  const anchor =
    mode === 'extend' && selection.anchor
      ? selection.anchor
      : axis === 'scans'
        ? { scan: item, step: next.steps[0] ?? '' }
        : { scan: next.scans[0] ?? '', step: item };
  return { ...next, anchor };
}

export function selectAll(scanOrder: string[], stepOrder: string[]): IGridSelection {
  return {
    scans: [...scanOrder],
    steps: [...stepOrder],
    anchor: scanOrder.length && stepOrder.length ? { scan: scanOrder[0], step: stepOrder[0] } : null
  };
}
