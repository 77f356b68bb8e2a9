import { expect, test } from '@jupyterlab/galata';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectHeatmap } from './heatmap.js';

const artifacts = resolve(dirname(fileURLToPath(import.meta.url)), '../artifacts');

test('double-click opens an HDF5 file in the NeXus Viewer without downloading it', async ({
  page
}) => {
  const contentRequests: string[] = [];
  page.on('request', request => {
    if (request.url().includes('/api/contents/sample.nxs')) {
      contentRequests.push(`${request.method()} ${request.url()}`);
    }
  });

  // galata starts each test in its own folder; the sample file is at the root.
  await page.filebrowser.openHomeDirectory();
  const item = page.locator('.jp-DirListing-item[data-file-type="nexus-hdf5"]', {
    hasText: 'sample.nxs'
  });
  await expect(item).toBeVisible();
  await item.dblclick();

  const viewer = page.locator('.jp-NexusViewer');
  await expect(viewer).toBeVisible();
  // H5Web's explorer tree lists the root group's children, read through the server.
  await expect(viewer.getByRole('treeitem', { name: 'entry' })).toBeVisible({
    timeout: 30000
  });
  await viewer.getByRole('treeitem', { name: 'entry' }).click();
  await expect(viewer.getByRole('treeitem', { name: 'data' })).toBeVisible();
  await page.screenshot({ path: resolve(artifacts, 'nexus-viewer.png') });

  // The document context may only read metadata (content=0) and list checkpoints:
  // no download of the file, no server-side checkpoint copy of it.
  expect(contentRequests.length).toBeGreaterThan(0);
  for (const entry of contentRequests) {
    const [method, url] = entry.split(' ');
    expect(method, entry).toBe('GET');
    const { pathname, searchParams } = new URL(url);
    if (!pathname.endsWith('/checkpoints')) {
      expect(searchParams.get('content'), entry).toBe('0');
    }
  }
});

test('inserts h5py code for the viewed dataset into a notebook', async ({ page }) => {
  await page.notebook.createNew('insert.ipynb');
  await page.evaluate(async () => {
    await window.jupyterapp.commands.execute('nexus:open-file', { path: 'sample.nxs' });
  });
  const viewer = page.locator('.jp-NexusViewer');
  await viewer.getByRole('treeitem', { name: 'entry' }).click();
  await viewer.getByRole('treeitem', { name: 'data' }).click();
  await viewer.getByRole('treeitem', { name: 'counts' }).click();
  await expectHeatmap(viewer);
  await page.screenshot({ path: resolve(artifacts, 'nexus-dataset.png') });

  await page.evaluate(async () => {
    const { commands, shell } = window.jupyterapp;
    const notebook = Array.from(shell.widgets('main')).find(w =>
      w.title.label.startsWith('insert.ipynb')
    );
    if (notebook) {
      shell.activateById(notebook.id);
    }
    // The viewer stays the "current" NeXus widget for the tracker.
    await commands.execute('nexus:insert-code');
  });
  const cells = page.locator('.jp-Notebook .jp-Cell .jp-InputArea-editor');
  // Path relative to the notebook (galata puts it in a per-test folder), slice as viewed.
  await expect(cells.last()).toContainText('h5py.File("../sample.nxs", "r")');
  await expect(cells.last()).toContainText('f["/entry/data/counts"][0, :, :]');
  await page.screenshot({ path: resolve(artifacts, 'nexus-insert-code.png') });
});

test('follows the JupyterLab dark theme', async ({ page }) => {
  await page.theme.setDarkTheme();
  await page.evaluate(async () => {
    await window.jupyterapp.commands.execute('nexus:open-file', { path: 'sample.nxs' });
  });
  const viewer = page.locator('.jp-NexusViewer');
  await expect(viewer.getByRole('treeitem', { name: 'entry' })).toBeVisible({
    timeout: 30000
  });
  expect(await viewer.evaluate(el => getComputedStyle(el).filter)).not.toBe('none');
  await page.screenshot({ path: resolve(artifacts, 'nexus-dark.png') });
  await page.theme.setLightTheme();
  expect(await viewer.evaluate(el => getComputedStyle(el).filter)).toBe('none');
});
