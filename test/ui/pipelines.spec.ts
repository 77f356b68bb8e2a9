import { expect, test, type IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { APIRequestContext, Locator } from '@playwright/test';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The pipeline sidebar against the real companion server, runner and step programs on the local
// executor. The experiments are written by jupyter_server_test_config.py with the demo generator:
// TIFF-frame scans of a synthetic crystal whose true UB and lattice are in each scan's truth.json.

const artifacts = resolve(dirname(fileURLToPath(import.meta.url)), '../artifacts');

/** A whole pipeline on a tiny scan takes well under a minute here; leave room for a busy machine. */
const PIPELINE_TIMEOUT = 240000;

interface Lattice {
  a: number;
  b: number;
  c: number;
  alpha: number;
  beta: number;
  gamma: number;
}

interface Orientation {
  ub_matrix: number[][];
  lattice: Lattice;
}

async function readJson<T>(request: APIRequestContext, path: string): Promise<T> {
  const response = await request.get(`api/contents/${path}?content=1&type=file&format=text`);
  expect(response.status(), path).toBe(200);
  return JSON.parse(((await response.json()) as { content: string }).content) as T;
}

/** A dataset's values through the companion server's h5grove endpoint. */
async function readDataset(
  request: APIRequestContext,
  file: string,
  path: string
): Promise<unknown> {
  const query = new URLSearchParams({ file, path, format: 'json' });
  const response = await request.get(`nexus/data/?${query}`);
  expect(response.status(), `${file}:${path}`).toBe(200);
  return response.json();
}

async function h5grove(
  request: APIRequestContext,
  endpoint: 'attr' | 'meta' | 'data',
  params: Record<string, string>
) {
  const response = await request.get(`nexus/${endpoint}/?${new URLSearchParams(params)}`);
  expect(response.status(), `${endpoint} ${JSON.stringify(params)}`).toBe(200);
  return response;
}

/**
 * Where the brightest voxel of a merged volume sits in HKL (voxel centres), found by following
 * the NeXus `default` attributes to the NXdata and reading its sums `v` and edge axes.
 */
async function brightestHkl(request: APIRequestContext, file: string) {
  const attrs = async (path: string) =>
    (await (await h5grove(request, 'attr', { file, path })).json()) as Record<string, string>;
  const entry = (await attrs('/')).default;
  const nxdata = `/${entry}/${(await attrs(`/${entry}`)).default}`;
  const { shape } = (await (
    await h5grove(request, 'meta', { file, path: `${nxdata}/v` })
  ).json()) as { shape: number[] };
  const body = await (
    await h5grove(request, 'data', { file, path: `${nxdata}/v`, format: 'bin', dtype: 'safe' })
  ).body();
  const v = new Float64Array(body.buffer, body.byteOffset, body.byteLength / 8);
  let best = 0;
  for (let i = 1; i < v.length; i++) {
    if (v[i] > v[best]) {
      best = i;
    }
  }
  const [nl, nk, nh] = shape;
  const index = [best % nh, Math.floor(best / nh) % nk, Math.floor(best / (nh * nk)) % nl];
  const centres: number[] = [];
  const steps: number[] = [];
  for (const [axis, name] of ['Qh', 'Qk', 'Ql'].entries()) {
    const edges = (await (
      await h5grove(request, 'data', { file, path: `${nxdata}/${name}`, format: 'json' })
    ).json()) as number[];
    const step = edges[1] - edges[0];
    steps.push(step);
    centres.push(edges[index[axis]] + step / 2);
  }
  return { centres, steps };
}

function column(m: number[][], j: number): number[] {
  return m.map(row => row[j]);
}

/** Angle in degrees between two vectors. */
function angle(u: number[], v: number[]): number {
  const dot = u.reduce((sum, x, i) => sum + x * v[i], 0);
  const norm = (w: number[]) => Math.hypot(...w);
  return (Math.acos(Math.min(1, Math.abs(dot) / (norm(u) * norm(v)))) * 180) / Math.PI;
}

async function openSidebar(page: IJupyterLabPageFixture): Promise<Locator> {
  const tab = page.locator('.jp-SideBar.jp-mod-left [data-id="jp-nexus-pipelines"]');
  await tab.click();
  const sidebar = page.locator('#jp-nexus-pipelines');
  await expect(sidebar).toBeVisible();
  return sidebar;
}

function cells(sidebar: Locator): Locator {
  return sidebar.locator('.jp-NexusPipelines-cell');
}

function cellStates(sidebar: Locator): Promise<string[]> {
  return cells(sidebar).evaluateAll(nodes =>
    nodes.map(node => node.getAttribute('data-state') ?? '')
  );
}

/** Waits until every cell is done, or until one failed (then the message names it). */
async function waitUntilAllDone(sidebar: Locator, timeout: number): Promise<void> {
  await expect
    .poll(
      async () => {
        const states = await cellStates(sidebar);
        return states.includes('failed') || states.every(state => state === 'done');
      },
      { timeout, intervals: [1000] }
    )
    .toBe(true);
  const failed = sidebar.locator('.jp-NexusPipelines-cell[data-state="failed"]');
  expect(await failed.evaluateAll(nodes => nodes.map(node => node.getAttribute('title')))).toEqual(
    []
  );
}

test.describe('pipeline sidebar', () => {
  test.describe.configure({ timeout: PIPELINE_TIMEOUT + 120000 });

  test('runs the whole pipeline over an experiment and opens the result', async ({ page }) => {
    // The experiment folder defaults to the file browser's folder.
    await page.filebrowser.openHomeDirectory();
    await page.filebrowser.openDirectory('crystal-experiment');
    const sidebar = await openSidebar(page);
    await expect(sidebar.getByRole('textbox', { name: 'Experiment folder' })).toHaveValue(
      'crystal-experiment'
    );
    await sidebar.getByRole('button', { name: 'Use this folder' }).click();
    await expect(sidebar.getByText('Experiment: crystal-experiment')).toBeVisible();

    const grid = sidebar.locator('.jp-NexusPipelines-grid');
    await expect(grid.locator('.jp-NexusPipelines-scanHeader')).toHaveText(['scan_01', 'scan_02']);
    const steps = await grid.locator('.jp-NexusPipelines-stepHeader').allTextContents();
    expect(steps.length).toBeGreaterThanOrEqual(7);
    await expect(cells(sidebar)).toHaveCount(2 * steps.length);
    for (const cell of await cells(sidebar).all()) {
      await expect(cell).toHaveAttribute('aria-label', /: not started$/);
    }

    // A plain click selects one cell; ctrl-click adds a row; "Select all" takes everything.
    await cells(sidebar).first().click();
    await expect(sidebar.locator('.jp-NexusPipelines-cell[aria-pressed="true"]')).toHaveCount(1);
    await cells(sidebar)
      .nth(steps.length)
      .click({ modifiers: ['Control'] });
    await expect(sidebar.locator('.jp-NexusPipelines-cell[aria-pressed="true"]')).toHaveCount(2);
    await sidebar.getByRole('button', { name: 'Select all' }).click();
    await expect(sidebar.locator('.jp-NexusPipelines-cell[aria-pressed="true"]')).toHaveCount(
      2 * steps.length
    );

    await expect(sidebar.getByRole('combobox', { name: 'Site' })).toHaveValue('local');
    await page.screenshot({ path: resolve(artifacts, 'pipelines-selected.png') });
    // From here on the grid follows the server's pushes: it is read again only once per
    // (re)opened /events socket, since pushes sent while the socket was down are lost.
    const gridReads: string[] = [];
    let socketsOpened = 0;
    page.on('request', request => {
      if (request.url().includes('/nexus/pipelines/grid')) {
        gridReads.push(request.url());
      }
    });
    page.on('websocket', socket => {
      if (socket.url().includes('/nexus/events')) {
        socketsOpened += 1;
      }
    });
    await sidebar.getByRole('button', { name: `Run ${2 * steps.length} cells` }).click();

    // Live updates only (the browser never polls the grid): queued/running show up, then done.
    await expect
      .poll(async () => (await cellStates(sidebar)).some(state => state !== 'not-started'))
      .toBe(true);
    await page.screenshot({ path: resolve(artifacts, 'pipelines-running.png') });
    await waitUntilAllDone(sidebar, PIPELINE_TIMEOUT);
    expect(gridReads.length).toBeLessThanOrEqual(socketsOpened);

    // The run's detail: every step of every scan started and completed, with its duration.
    const detail = sidebar.locator('.jp-NexusPipelines-runDetail');
    await expect(detail.locator('.jp-NexusPipelines-runState')).toHaveText('completed');
    const completed = detail.locator('.jp-NexusPipelines-events tbody tr', {
      hasText: 'completed'
    });
    await expect(completed).toHaveCount(2 * steps.length);
    for (const duration of await completed.locator('td:nth-child(5)').allTextContents()) {
      expect(duration).toMatch(/^\d+(\.\d)? s$|^\d+ min \d+ s$/);
    }
    await page.screenshot({ path: resolve(artifacts, 'pipelines-done.png') });

    // Refined orientation and lattice against the generator's truth.
    for (const scan of ['scan_01', 'scan_02']) {
      const truth = await readJson<Orientation>(
        page.request,
        `crystal-experiment/${scan}/truth.json`
      );
      const refined = await readJson<Orientation>(
        page.request,
        `crystal-experiment/${scan}/nexus/geometry.json`
      );
      for (let j = 0; j < 3; j++) {
        expect(angle(column(refined.ub_matrix, j), column(truth.ub_matrix, j))).toBeLessThan(0.05);
      }
      for (const length of ['a', 'b', 'c'] as const) {
        expect(Math.abs(refined.lattice[length] / truth.lattice[length] - 1)).toBeLessThan(0.001);
      }
      for (const corner of ['alpha', 'beta', 'gamma'] as const) {
        expect(Math.abs(refined.lattice[corner] - truth.lattice[corner])).toBeLessThan(0.05);
      }
      // The refine step's own output carries the same UB (read through h5grove).
      const ub = (await readDataset(
        page.request,
        `crystal-experiment/${scan}/nexus/refine.nxs`,
        '/entry/sample/ub_matrix'
      )) as number[][];
      for (let j = 0; j < 3; j++) {
        expect(angle(column(ub, j), column(truth.ub_matrix, j))).toBeLessThan(0.05);
      }
    }

    // The merged volume opens in the NeXus panel.
    await detail.getByRole('button', { name: 'Open result of scan_01' }).click();
    const viewer = page.locator('.jp-NexusViewer');
    await expect(viewer).toBeVisible();
    await expect(
      page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: 'transform.nxs' })
    ).toBeVisible();
    // H5Web names the file it reads (explorer or breadcrumbs, whichever the viewer shows; the
    // collapsed explorer keeps its hidden copy of the name, which may come first).
    await expect(viewer.getByText('transform.nxs').filter({ visible: true }).first()).toBeVisible({
      timeout: 30000
    });
    await page.screenshot({ path: resolve(artifacts, 'pipelines-result.png') });
    // Its strongest voxel is a Bragg peak: at integer H, K, L (within a voxel), not the origin.
    const { centres, steps: voxel } = await brightestHkl(
      page.request,
      'crystal-experiment/scan_01/nexus/transform.nxs'
    );
    centres.forEach((centre, axis) =>
      expect(Math.abs(centre - Math.round(centre)), `HKL ${centres}`).toBeLessThanOrEqual(
        voxel[axis]
      )
    );
    expect(centres.some(centre => Math.round(centre) !== 0)).toBe(true);

    // "Export as notebook" writes the run's notebook and opens it.
    await detail.getByRole('button', { name: 'Export as notebook' }).click();
    const notebook = page.locator('.jp-NotebookPanel');
    await expect(notebook).toBeVisible({ timeout: 30000 });
    await expect(
      page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: /^nxrefine-run-.*\.ipynb$/ })
    ).toBeVisible();
    // One cell per step runs the same step program.
    await expect(notebook.locator('.jp-Cell', { hasText: 'nexus-reduce' }).first()).toBeVisible({
      timeout: 30000
    });
    await page.screenshot({ path: resolve(artifacts, 'pipelines-notebook.png') });
  });

  test('a failing step shows failed with its stderr; retry succeeds once the input is fixed', async ({
    page
  }) => {
    const sidebar = await openSidebar(page);
    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute('nexus:open-pipelines', {
        path: 'broken-experiment'
      });
    });
    await expect(sidebar.getByText('Experiment: broken-experiment')).toBeVisible();

    // stack and max of the one scan: click, then shift-click.
    const cell = (step: string) =>
      sidebar.locator(`.jp-NexusPipelines-cell[data-scan="scan_01"][data-step="${step}"]`);
    await cell('stack').click();
    await cell('max').click({ modifiers: ['Shift'] });
    await expect(sidebar.locator('.jp-NexusPipelines-cell[aria-pressed="true"]')).toHaveCount(2);
    await sidebar.getByRole('button', { name: 'Run 2 cells' }).click();

    await expect(cell('stack')).toHaveAttribute('data-state', 'failed', { timeout: 60000 });
    await expect(cell('max')).not.toHaveAttribute('data-state', 'done');
    await cell('stack').click();
    const log = sidebar.locator('.jp-NexusPipelines-log');
    await expect(log.getByRole('button', { name: 'stderr' })).toHaveAttribute(
      'aria-pressed',
      'true'
    );
    await expect(log.locator('.jp-NexusPipelines-logText')).toContainText('frame_00002.tif', {
      timeout: 30000
    });
    const detail = sidebar.locator('.jp-NexusPipelines-runDetail');
    await expect(detail.locator('.jp-NexusPipelines-runState')).toHaveText('failed', {
      timeout: 30000
    });
    await page.screenshot({ path: resolve(artifacts, 'pipelines-failed.png') });
    // A cell that never ran has no output to show.
    await cell('find').click();
    await expect(log).toHaveCount(0);

    // The run list's filters are the server's: the failed run is under Failed, not Completed.
    const runItems = sidebar.locator('.jp-NexusPipelines-runItem');
    const brokenRun = runItems.filter({ hasText: 'broken-experiment' });
    const filter = (name: string) => sidebar.getByRole('tab', { name }).click();
    await filter('Failed');
    await expect(brokenRun).toHaveCount(1);
    for (const state of await runItems.evaluateAll(items => items.map(i => i.dataset.state))) {
      expect(['failed', 'canceled']).toContain(state);
    }
    await filter('Completed');
    await expect(brokenRun).toHaveCount(0);
    // The open run stays open when the filter leaves it out.
    await expect(detail.locator('.jp-NexusPipelines-runState')).toHaveText('failed');

    // Put the intact frame back through the contents API, then retry the run.
    const intact = await page.request.get(
      'api/contents/intact-frames/frame_00002.tif?content=1&type=file&format=base64'
    );
    const { content } = (await intact.json()) as { content: string };
    const put = await page.request.put('api/contents/broken-experiment/scan_01/frame_00002.tif', {
      data: { type: 'file', format: 'base64', content }
    });
    expect(put.status()).toBe(200);
    await detail.getByRole('button', { name: 'Retry' }).click();
    await expect(cell('stack')).toHaveAttribute('data-state', 'done', { timeout: 120000 });
    await expect(cell('max')).toHaveAttribute('data-state', 'done', { timeout: 120000 });
    await expect(detail.locator('.jp-NexusPipelines-runState')).toHaveText('completed');
    await expect(
      detail.locator('.jp-NexusPipelines-events tbody tr', { hasText: 'retried' })
    ).not.toHaveCount(0);
    await page.screenshot({ path: resolve(artifacts, 'pipelines-retried.png') });
    await filter('Completed');
    await expect(brokenRun).toHaveCount(1);
    await filter('Failed');
    await expect(brokenRun).toHaveCount(0);
  });

  test('with auto-run on, a scan folder dropped into the experiment runs by itself', async ({
    page
  }) => {
    const sidebar = await openSidebar(page);
    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute('nexus:open-pipelines', {
        path: 'auto-experiment'
      });
    });
    await expect(sidebar.getByText('No scan folders in auto-experiment.')).toBeVisible();
    const autoRun = sidebar.getByRole('checkbox', { name: 'Auto-run new scans in this folder' });
    await expect(autoRun).not.toBeChecked();
    await autoRun.click();
    await expect(autoRun).toBeChecked();
    await expect
      .poll(async () => {
        const response = await page.request.get('nexus/pipelines/watch?experiment=auto-experiment');
        return ((await response.json()) as { autoRun: boolean }).autoRun;
      })
      .toBe(true);

    const moved = await page.request.patch('api/contents/staging/scan_01', {
      data: { path: 'auto-experiment/scan_01' }
    });
    expect(moved.status()).toBe(200);
    await expect(sidebar.locator('.jp-NexusPipelines-scanHeader')).toHaveText(['scan_01'], {
      timeout: 60000
    });
    await expect(sidebar.locator('.jp-NexusPipelines-runItem', { hasText: '(auto)' })).toHaveCount(
      1
    );
    await page.screenshot({ path: resolve(artifacts, 'pipelines-auto-run.png') });
    await waitUntilAllDone(sidebar, PIPELINE_TIMEOUT);
    await expect(cells(sidebar)).toHaveCount(7);
  });
});
