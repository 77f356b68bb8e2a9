// What a working H5Web heatmap looks like in a NeXus Viewer panel (shared by the spec files).
import { expect } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';

/** H5Web's error fallback (a <details> whose summary is the error message). */
export function errorFallback(viewer: Locator): Locator {
  return viewer.locator('details:has(> summary)');
}

// A JavaScript error H5Web's error boundaries print in the panel when the bundle is broken: two
// copies of React, or react-three-fiber's development reconciler on JupyterLab's production React
// ("Cannot read properties of undefined (reading 'current')" in a development labextension build).
const SCRIPT_ERROR =
  /Cannot read properties of|is not a function|is not defined|Invalid hook call|Minified React error/;

/** A loaded heatmap: rendered canvas, a colour bar whose domain came from the data, no error. */
export async function expectHeatmap(viewer: Locator): Promise<void> {
  const figure = viewer.locator('figure');
  const scriptError = viewer.getByText(SCRIPT_ERROR);
  await expect(figure.locator('canvas').first()).toBeVisible({ timeout: 30000 });
  // Whichever comes first, so that a broken bundle fails with its own message.
  await expect(
    figure
      .getByLabel(/^Min: /)
      .or(scriptError)
      .first()
  ).toBeVisible({
    timeout: 30000
  });
  await expect(scriptError).toHaveCount(0);
  await expect(figure.getByLabel(/^Min: /)).toBeVisible();
  await expect(figure.getByLabel(/^Max: /)).toBeVisible();
  await expect(errorFallback(viewer)).toHaveCount(0);
}
