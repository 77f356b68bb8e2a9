// Acceptance tests on real-world NeXus/HDF5 files (copied into the Jupyter root by
// jupyter_server_test_config.py) and on the project's synthetic demo scan.
import { expect, test, type IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorFallback, expectHeatmap } from './heatmap.js';

const artifacts = resolve(dirname(fileURLToPath(import.meta.url)), '../artifacts');

/** Double-click a file of the Jupyter root in the file browser; return its viewer panel. */
async function openFromBrowser(page: IJupyterLabPageFixture, name: string): Promise<Locator> {
  // galata starts each test in its own folder; the fixture files are at the root.
  await page.filebrowser.openHomeDirectory();
  const item = page.locator('.jp-DirListing-item', {
    has: page.locator('.jp-DirListing-itemText', { hasText: new RegExp(`^${name}$`) })
  });
  await expect(item).toBeVisible();
  await item.dblclick();
  return viewerFor(page, name);
}

/** The NeXus Viewer of a file: its main-area tab is the current one, so it is the visible viewer. */
async function viewerFor(page: IJupyterLabPageFixture, name: string): Promise<Locator> {
  await expect(
    page.locator('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current', { hasText: name })
  ).toBeVisible();
  return page.locator('#jp-main-dock-panel .jp-NexusViewer:visible');
}

/** The H5Web tree item of an HDF5 path (the attribute avoids ambiguous names like detector/detector). */
function treeItem(viewer: Locator, path: string): Locator {
  return viewer.locator(`[role="treeitem"][data-path="${path}"]`);
}

test.describe('real files', () => {
  test('chopper.nxs opens from the file browser on its default NeXus heatmap', async ({ page }) => {
    const dataRequest = page.waitForRequest(
      r => r.url().includes('/nexus/data') && r.url().includes('path=%2Fentry%2Fdata%2Fdata'),
      { timeout: 30000 }
    );
    const viewer = await openFromBrowser(page, 'chopper.nxs');
    await expect(viewer).toBeVisible();
    await expect(viewer.getByRole('tree')).toBeVisible({ timeout: 30000 });
    await expect(viewer.getByRole('treeitem', { name: 'entry', exact: false })).toBeVisible();
    await expect(treeItem(viewer, '/entry')).toBeVisible();
    // The root @default -> /entry @default -> /entry/data (NXdata, 2-D signal) is displayed.
    await dataRequest;
    await expect(viewer.getByRole('tab', { name: 'NX Heatmap', selected: true })).toBeVisible({
      timeout: 30000
    });
    await expect(viewer.getByRole('figure', { name: 'Neutron Counts' })).toBeVisible();
    await expectHeatmap(viewer);
    // 2-D signal: no dimension slider.
    await expect(viewer.getByRole('slider', { name: /^D\d$/ })).toHaveCount(0);
    await page.screenshot({ path: resolve(artifacts, 'real-chopper.png') });
  });

  test('synthetic_scan.nxs: the dimension slider of the 3-D stack requests other slices', async ({
    page
  }) => {
    const firstSlice = page.waitForRequest(
      r =>
        r.url().includes('/nexus/data') &&
        new URL(r.url()).searchParams.get('selection') === '0,:,:',
      { timeout: 30000 }
    );
    const viewer = await openFromBrowser(page, 'synthetic_scan.nxs');
    await firstSlice;
    await expect(viewer.getByRole('tab', { name: 'NX Heatmap', selected: true })).toBeVisible({
      timeout: 30000
    });
    await expectHeatmap(viewer);

    const slider = viewer.getByRole('slider', { name: 'D0' });
    await expect(slider).toBeVisible();
    await expect(slider).toHaveAttribute('aria-valuemin', '0');
    await expect(slider).toHaveAttribute('aria-valuemax', '29');
    await expect(slider).toHaveAttribute('aria-valuenow', '0');
    await expect(slider).toHaveText('0');
    await page.screenshot({ path: resolve(artifacts, 'real-synthetic-slice-0.png') });

    const isData = (url: string) => url.includes('/nexus/data') && url.includes('selection=');
    const nextSlice = page.waitForRequest(r => isData(r.url()), { timeout: 30000 });
    await slider.focus();
    await slider.press('ArrowUp');
    const request = await nextSlice;
    const selection = new URL(request.url()).searchParams.get('selection');
    expect(selection).not.toBe('0,:,:');
    expect(selection).toBe('1,:,:');
    await expect(slider).toHaveAttribute('aria-valuenow', '1');
    await expect(slider).toHaveText('1');

    // Several steps: the shown index follows and the last slice requested is the one shown.
    const laterSlice = page.waitForRequest(
      r => isData(r.url()) && new URL(r.url()).searchParams.get('selection') === '4,:,:',
      { timeout: 30000 }
    );
    for (let i = 0; i < 3; i++) {
      await slider.press('ArrowRight');
    }
    // The slice shown is the one read: wait for its data to arrive before checking the plot.
    expect((await (await laterSlice).response())?.status()).toBe(200);
    await expect(slider).toHaveAttribute('aria-valuenow', '4');
    await expect(slider).toHaveText('4');
    await expectHeatmap(viewer);
    await page.screenshot({ path: resolve(artifacts, 'real-synthetic-slice-4.png') });
  });

  test('k11-18014-imaging.h5: selecting /entry/detector/detector shows a heatmap', async ({
    page
  }) => {
    const viewer = await openFromBrowser(page, 'k11-18014-imaging.h5');
    await treeItem(viewer, '/entry').click({ timeout: 30000 });
    await treeItem(viewer, '/entry/detector').click();
    const slice = page.waitForRequest(
      r =>
        r.url().includes('/nexus/data') &&
        r.url().includes('path=%2Fentry%2Fdetector%2Fdetector') &&
        r.url().includes('selection='),
      { timeout: 30000 }
    );
    await treeItem(viewer, '/entry/detector/detector').click();
    await slice;
    await expect(
      viewer.getByRole('tab', { name: 'Heatmap', exact: true, selected: true })
    ).toBeVisible({
      timeout: 30000
    });
    await expectHeatmap(viewer);
    // (3201, 22, 26): a slider over the 3201 frames.
    await expect(viewer.getByRole('slider', { name: 'D0' })).toHaveAttribute(
      'aria-valuemax',
      '3200'
    );
    await page.screenshot({ path: resolve(artifacts, 'real-k11-detector.png') });
  });

  test('bitshuffle.h5: the bitshuffle-compressed image is decoded and displayed', async ({
    page
  }) => {
    const viewer = await openFromBrowser(page, 'bitshuffle.h5');
    await treeItem(viewer, '/entry').click({ timeout: 30000 });
    await treeItem(viewer, '/entry/data').click();
    const read = page.waitForResponse(
      r =>
        r.url().includes('/nexus/data') &&
        r.url().includes('path=%2Fentry%2Fdata%2Fdata') &&
        r.url().includes('selection='),
      { timeout: 30000 }
    );
    await treeItem(viewer, '/entry/data/data').click();
    expect((await read).status()).toBe(200);
    await expectHeatmap(viewer);
    await expect(viewer.getByText(/error|failed|HDF5-DIAG|filter/i)).toHaveCount(0);
    await page.screenshot({ path: resolve(artifacts, 'real-bitshuffle.png') });
  });

  test('truncated.nxs shows the server error and JupyterLab stays usable', async ({ page }) => {
    const failure = page.waitForResponse(
      r => r.url().includes('/nexus/meta') && r.url().includes('file=truncated.nxs'),
      { timeout: 30000 }
    );
    const viewer = await openFromBrowser(page, 'truncated.nxs');
    // The server refuses the damaged file...
    expect((await failure).status()).toBeGreaterThanOrEqual(400);
    // ...and H5Web's error fallback shows its message (HDF5's "truncated file" diagnostic or
    // the server's own wording, depending on the server version) instead of the explorer.
    const error = errorFallback(viewer);
    await expect(error).toBeVisible({ timeout: 30000 });
    await expect(error.locator('summary')).toHaveText(
      /truncated file|File has been truncated|not an HDF5 file|damaged/i
    );
    await expect(viewer.getByRole('tree')).toHaveCount(0);
    await page.screenshot({ path: resolve(artifacts, 'real-truncated.png') });

    // The rest of the application still works: another file opens in a new viewer.
    const other = await openFromBrowser(page, 'chopper.nxs');
    await expect(treeItem(other, '/entry')).toBeVisible({ timeout: 30000 });
    await expectHeatmap(other);
    await expect(page.getByRole('tab', { name: /truncated\.nxs/ })).toBeVisible();
    await page.screenshot({ path: resolve(artifacts, 'real-truncated-then-chopper.png') });
  });
});
