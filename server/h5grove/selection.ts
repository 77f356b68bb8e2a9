import { HttpError } from '../http/errors.js';

// h5grove selection grammar (h5grove-protocol.md §4), normalised for h5wasm, which neither
// understands negative indices nor index members that drop an axis.

export interface AxisSelection {
  start: number;
  /** exclusive; always ≥ start */
  stop: number;
  step: number;
  /** an integer index member: the axis is read with count 1 and removed from the output shape */
  drop: boolean;
}

export interface NormalizedSelection {
  axes: AxisSelection[];
  /** shape of the result after dropping indexed axes */
  shape: number[];
}

function parseInt10(text: string, member: string): number {
  const t = text.trim();
  if (!/^[-+]?\d+$/.test(t)) {
    // h5grove's int() raises ValueError → 500
    throw new HttpError(500, `Invalid selection member ${member}`);
  }
  return Number.parseInt(t, 10);
}

/** Parse and normalise `selection` against `dims`. Undefined or empty selects everything. */
export function normalizeSelection(
  selection: string | undefined,
  dims: number[]
): NormalizedSelection {
  const members = selection === undefined || selection === '' ? [] : selection.split(',');
  if (members.length > dims.length) {
    throw new HttpError(
      500,
      `Selection ${selection} has too many members to slice a ${dims.length}D dataset`
    );
  }
  const axes: AxisSelection[] = dims.map((dim, i) => {
    const member = members[i];
    if (member === undefined) {
      return { start: 0, stop: dim, step: 1, drop: false };
    }
    const parts = member.split(':');
    if (parts.length > 3) {
      throw new HttpError(500, `Invalid selection member ${member}`);
    }
    if (parts.length === 1) {
      let index = parseInt10(parts[0], member);
      if (index < 0) {
        index += dim;
      }
      if (index < 0 || index >= dim) {
        throw new HttpError(
          500,
          `Index ${parts[0].trim()} is out of range for axis ${i} with size ${dim}`
        );
      }
      return { start: index, stop: index + 1, step: 1, drop: true };
    }
    const [startText, stopText, stepText = ''] = parts;
    const step = stepText.trim() === '' ? 1 : parseInt10(stepText, member);
    if (step < 1) {
      throw new HttpError(500, `Step must be ≥ 1 in selection member ${member}`);
    }
    // NumPy slice semantics: negatives count from the end, then clamp to [0, dim].
    const bound = (text: string, dflt: number): number => {
      if (text.trim() === '') {
        return dflt;
      }
      let v = parseInt10(text, member);
      if (v < 0) {
        v += dim;
      }
      return Math.min(Math.max(v, 0), dim);
    };
    const start = bound(startText, 0);
    const stop = Math.max(bound(stopText, dim), start);
    return { start, stop, step, drop: false };
  });
  const shape = axes.filter(a => !a.drop).map(axisCount);
  return { axes, shape };
}

export function axisCount(a: AxisSelection): number {
  return a.stop <= a.start ? 0 : Math.ceil((a.stop - a.start) / a.step);
}
