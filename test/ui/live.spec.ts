import { expect, test } from '@jupyterlab/galata';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { writeArrayBuffer } from 'geotiff';

// A file being written while its panel is open: an h5py SWMR writer appends frames, the server
// pushes file-changed on /events, the panel re-reads the file (resetKeys) and shows the new frame
// count, keeping the user's place (selected dataset, chosen frame). The same for a folder of
// frame files (one TIFF per frame) opened as a stack.

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

test('the open panel follows frames appended to the file', async ({ page }) => {
  const config = JSON.parse(
    (await page.locator('#jupyter-config-data').textContent({ timeout: 10000 })) ?? '{}'
  ) as { serverRoot: string };
  const writer = spawn(join(repo, '.venv', 'bin', 'python'), [
    join(repo, 'test', 'fixtures', 'live', 'append_frames.py'),
    join(config.serverRoot, 'live.nxs'),
    'swmr',
    '10',
    '32'
  ]);
  const exited = new Promise(resolve => writer.once('exit', resolve));
  const lines = createInterface({ input: writer.stdout })[Symbol.asyncIterator]();
  const append = async (index: number) => {
    writer.stdin.write('next\n');
    expect((await lines.next()).value).toBe(`appended ${index}`);
  };
  try {
    expect((await lines.next()).value).toBe('ready');
    await append(0);
    await append(1);

    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute('nexus:open-file', { path: 'live.nxs' });
    });
    const viewer = page.locator('.jp-NexusViewer');
    await viewer.getByRole('treeitem', { name: 'entry' }).click({ timeout: 30000 });
    await viewer.getByRole('treeitem', { name: 'data' }).first().click();
    await viewer.getByRole('treeitem', { name: 'data' }).last().click();
    const frames = viewer.getByText('0:1', { exact: true });
    await expect(frames).toBeVisible({ timeout: 30000 });
    // the user's place: the last frame of the two
    const thumb = viewer.getByRole('slider', { name: 'D0' });
    await thumb.focus();
    await page.keyboard.press('End');
    await expect(thumb).toHaveAttribute('aria-valuenow', '1');

    for (let i = 2; i < 5; i++) {
      await append(i);
      // the new frame count within 2 s (plus the browser's own rendering)
      await expect(viewer.getByText(`0:${i}`, { exact: true })).toBeVisible({ timeout: 3000 });
    }
    await expect(thumb).toHaveAttribute('aria-valuenow', '1');
    await expect(viewer.getByRole('treeitem', { name: 'data' }).last()).toHaveAttribute(
      'aria-selected',
      'true'
    );
  } finally {
    writer.stdin.end();
    await exited;
  }
});

test('the open panel follows frame files arriving in a folder', async ({ page }) => {
  const config = JSON.parse(
    (await page.locator('#jupyter-config-data').textContent({ timeout: 10000 })) ?? '{}'
  ) as { serverRoot: string };
  const folder = join(config.serverRoot, 'live-frames');
  mkdirSync(folder, { recursive: true });
  const writeFrame = (k: number) => {
    const pixels = new Uint16Array(32 * 32).fill(k);
    writeFileSync(
      join(folder, `frame_${k}.tif`),
      Buffer.from(writeArrayBuffer(pixels, { width: 32, height: 32 }))
    );
  };
  writeFrame(0);
  writeFrame(1);

  await page.evaluate(async () => {
    await window.jupyterapp.commands.execute('nexus:open-frame-folder', { path: 'live-frames' });
  });
  const viewer = page.locator('.jp-NexusViewer');
  await viewer.getByRole('treeitem', { name: 'entry' }).click({ timeout: 30000 });
  await viewer.getByRole('treeitem', { name: 'data' }).first().click();
  await viewer.getByRole('treeitem', { name: 'data' }).last().click();
  await expect(viewer.getByText('0:1', { exact: true })).toBeVisible({ timeout: 30000 });
  const thumb = viewer.getByRole('slider', { name: 'D0' });
  await thumb.focus();
  await page.keyboard.press('End');
  await expect(thumb).toHaveAttribute('aria-valuenow', '1');

  for (let k = 2; k < 5; k++) {
    writeFrame(k);
    await expect(viewer.getByText(`0:${k}`, { exact: true })).toBeVisible({ timeout: 3000 });
  }
  await expect(thumb).toHaveAttribute('aria-valuenow', '1');
});
