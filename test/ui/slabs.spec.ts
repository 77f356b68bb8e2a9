import { expect, test } from '@jupyterlab/galata';
import type { Page } from '@playwright/test';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const artifacts = resolve(dirname(fileURLToPath(import.meta.url)), '../artifacts');

/** (u, v) centres and value of the brightest pixels of the slab the panel received. */
async function brightest(page: Page, count: number): Promise<[number, number, number][]> {
  return page.evaluate(k => {
    // galata exposes the application; the NeXus Viewer's content holds the slab model
    const app = (window as unknown as { jupyterapp: { shell: { currentWidget: unknown } } })
      .jupyterapp;
    const viewer = (
      app.shell.currentWidget as {
        content: {
          slabs: {
            result: {
              image: Float32Array;
              info: { grid: { dims: number[] }; axes: { u: number[]; v: number[] } };
            };
          };
        };
      }
    ).content;
    const { image, info } = viewer.slabs.result;
    const [n0] = info.grid.dims;
    const order = [...image.keys()]
      .filter(i => Number.isFinite(image[i]))
      .sort((a, b) => image[b] - image[a])
      .slice(0, k);
    const centre = (edges: number[], i: number): number => (edges[i] + edges[i + 1]) / 2;
    return order.map(
      i =>
        [centre(info.axes.u, i % n0), centre(info.axes.v, Math.floor(i / n0)), image[i]] as [
          number,
          number,
          number
        ]
    );
  }, count);
}

async function computeAndWait(page: Page): Promise<void> {
  const panel = page.locator('.jp-NexusSlab');
  const previous = (await panel.getAttribute('data-slab-id')) ?? '';
  await panel.getByRole('button', { name: 'Compute' }).click();
  await expect(panel).not.toHaveAttribute('data-slab-id', previous);
  await expect(panel).toHaveAttribute('data-slab-complete', 'true', { timeout: 60000 });
  await expect(panel).toHaveAttribute('data-slab-state', 'done');
  await expect(panel.locator('.jp-NexusSlab-image canvas')).toBeVisible();
}

test('HKL slabs of the demo scan: L = 0 then H = K, Bragg peaks at integer indices', async ({
  page
}) => {
  await page.notebook.createNew('slab.ipynb');
  await page.filebrowser.openHomeDirectory();
  const item = page.locator('.jp-DirListing-item[data-file-type="nexus-hdf5"]', {
    hasText: 'slab_scan.nxs'
  });
  await expect(item).toBeVisible();
  await item.dblclick();

  const panel = page.locator('.jp-NexusSlab');
  await expect(panel).toBeVisible({ timeout: 30000 });
  await panel.locator('select[name="preset"]').selectOption('L');
  for (const [name, value] of [
    ['value', '0'],
    ['thickness', '0.1'],
    ['u0', '-2'],
    ['u1', '2'],
    ['v0', '-2'],
    ['v1', '2'],
    ['n0', '200'],
    ['n1', '200']
  ]) {
    await panel.locator(`input[name="${name}"]`).fill(value);
  }
  await computeAndWait(page);
  await page.screenshot({ path: resolve(artifacts, 'slab-L0.png') });

  // the brightest pixels of L = 0 lie on integer (H, K), on several distinct peaks
  const peaks = await brightest(page, 12);
  const onInteger = (x: number): boolean => Math.abs(x - Math.round(x)) < 0.05;
  for (const [h, k, value] of peaks) {
    expect(onInteger(h) && onInteger(k), `peak at H=${h}, K=${k} (${value})`).toBe(true);
  }
  const distinct = new Set(peaks.map(([h, k]) => `${Math.round(h)},${Math.round(k)}`));
  expect(distinct.size).toBeGreaterThanOrEqual(4);

  // H = K: u is [1 1 0] (H = K = u), v is L
  await panel.locator('select[name="preset"]').selectOption('H=K');
  await computeAndWait(page);
  await page.screenshot({ path: resolve(artifacts, 'slab-HK.png') });
  await expect(panel.getByText('[1 1 0] (r.l.u.)').first()).toBeVisible();
  const diagonal = await brightest(page, 12);
  for (const [hk, l, value] of diagonal) {
    expect(onInteger(hk) && onInteger(l), `peak at H=K=${hk}, L=${l} (${value})`).toBe(true);
  }
  expect(
    new Set(diagonal.map(([a, b]) => `${Math.round(a)},${Math.round(b)}`)).size
  ).toBeGreaterThanOrEqual(3);

  // save next to the scan; insert the code recomputing it into the notebook opened first
  await panel.getByRole('button', { name: 'Save as NeXus' }).click();
  await expect(panel.locator('.jp-NexusSlab-status')).toHaveText(
    /^Saved as slab_scan_slab(_\d+)?\.nxs$/
  );
  await panel.getByRole('button', { name: 'Insert code' }).click();
  const cells = page.locator('.jp-Notebook .jp-Cell .jp-InputArea-editor');
  await expect(cells.last()).toContainText('nexus-transform.mjs');
  await expect(cells.last()).toContainText('slab_scan.nxs#/entry/data/data');
});
