import { expect, test } from '@jupyterlab/galata';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectHeatmap } from './heatmap.js';

// A remote site over a real sshd on loopback (sudo scripts/sshd-up.sh; the account `nexusremote`
// is the remote host's user): configured in the settings, browsed in the Remote sites sidebar,
// its file opened in the NeXus Viewer through nexus://<site>/<path>.

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ENV_FILE = '/run/nexus-sshd/env';
const available = fs.existsSync(ENV_FILE);

test('a remote site is browsed and its file opened in the NeXus Viewer', async ({ page }) => {
  expect(available, 'the test sshd is not running: sudo scripts/sshd-up.sh').toBe(true);
  const env = Object.fromEntries(
    fs
      .readFileSync(ENV_FILE, 'utf8')
      .trim()
      .split('\n')
      .map(line => line.split('=', 2) as [string, string])
  );
  // the bundle where the remote account can read it, and a file on the remote
  const serverDir = fs.mkdtempSync(join(os.tmpdir(), 'nexus-ui-remote-server-'));
  const bundle = join(repo, 'jupyterlab_nexus', 'server');
  for (const name of ['nexus-server.mjs', 'h5-worker.mjs']) {
    fs.copyFileSync(join(bundle, name), join(serverDir, name));
  }
  fs.cpSync(join(bundle, 'plugins'), join(serverDir, 'plugins'), { recursive: true });
  const remoteDir = fs.mkdtempSync(join(env.NEXUS_SSHD_ROOT, 'ui-'));
  execFileSync(join(repo, '.venv', 'bin', 'python'), [
    '-c',
    `import h5py, numpy as np
with h5py.File(${JSON.stringify(join(remoteDir, 'scan.nxs'))}, 'w') as f:
    e = f.create_group('entry'); e.attrs['NX_class'] = 'NXentry'
    d = e.create_group('data'); d.attrs['NX_class'] = 'NXdata'; d.attrs['signal'] = 'counts'
    d['counts'] = np.arange(32 * 48, dtype='f4').reshape(32, 48)`
  ]);
  execFileSync('chmod', ['-R', 'a+rX', serverDir, remoteDir]);

  try {
    await page.evaluate(
      async sites => {
        const registry = await window.galata.getPlugin('@jupyterlab/apputils-extension:settings');
        await registry!.set('jupyterlab-nexus:sites', 'sites', sites as never);
      },
      [
        { name: 'local', scheduler: 'local' },
        {
          name: 'beamline',
          scheduler: 'local',
          ssh: {
            host: '127.0.0.1',
            port: Number(env.NEXUS_SSHD_PORT),
            user: env.NEXUS_SSHD_USER,
            identityFile: env.NEXUS_SSHD_KEY,
            knownHosts: env.NEXUS_SSHD_KNOWN_HOSTS,
            node: process.execPath,
            server: join(serverDir, 'nexus-server.mjs'),
            roots: [env.NEXUS_SSHD_ROOT]
          }
        }
      ]
    );
    await expect
      .poll(async () => (await (await page.request.get('nexus/sites')).json()) as string[], {
        timeout: 30000
      })
      .toEqual(['beamline']);

    await page.locator('.jp-SideBar [title="Remote sites"]').click();
    const sidebar = page.locator('.jp-NexusRemoteBrowser');
    await expect(sidebar.getByLabel('Remote site')).toHaveValue('beamline');
    const folder = fs.realpathSync(remoteDir).split('/').pop()!;
    await sidebar.getByRole('button', { name: `${folder}/` }).click({ timeout: 30000 });
    await sidebar.getByRole('button', { name: 'scan.nxs' }).click();

    const viewer = page.locator('.jp-NexusViewer');
    await viewer.getByRole('treeitem', { name: 'entry' }).click({ timeout: 30000 });
    await viewer.getByRole('treeitem', { name: 'data' }).click();
    await viewer.getByRole('treeitem', { name: 'counts' }).click();
    await expectHeatmap(viewer);
    await expect(page.locator('.lm-TabBar-tab[title^="nexus://beamline/"]')).toBeVisible();
  } finally {
    fs.rmSync(remoteDir, { recursive: true, force: true });
    fs.rmSync(serverDir, { recursive: true, force: true });
  }
});
