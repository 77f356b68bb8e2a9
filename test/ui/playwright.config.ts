// End-to-end tests in a real JupyterLab (galata) with token authentication kept on.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from '@playwright/test';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');

// Workers re-evaluate this file: draw the secrets once and pass them on through the env.
process.env.NEXUS_UI_TOKEN ??= randomBytes(24).toString('hex');
// A port the kernel reports free right now (a random guess collided with a busy port once).
process.env.NEXUS_UI_PORT ??= execFileSync(process.execPath, [
  '-e',
  "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })"
])
  .toString()
  .trim();
process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';
const token = process.env.NEXUS_UI_TOKEN;
const port = process.env.NEXUS_UI_PORT;
const baseURL = `http://127.0.0.1:${port}`;

// The remote-site spec needs the test sshd and second account (scripts/sshd-up.sh, as root), so it
// is its own suite (`npm run test:ui:remote`), counted as not run by scripts/test.sh without them.
const remoteSpec = '**/remote.spec.ts';

export default defineConfig({
  testDir: here,
  ...(process.env.NEXUS_UI_REMOTE === '1' ? { testMatch: remoteSpec } : { testIgnore: remoteSpec }),
  outputDir: resolve(repo, 'test-results'),
  reporter: [['list']],
  timeout: 90000,
  workers: 1,
  use: {
    baseURL,
    extraHTTPHeaders: { Authorization: `token ${token}` },
    viewport: { width: 1280, height: 800 },
    video: 'off',
    trace: 'off',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--disable-gpu']
    }
  },
  webServer: {
    command: `${resolve(repo, '.venv/bin/jupyter')} lab --config ${resolve(here, 'jupyter_server_test_config.py')}`,
    url: `${baseURL}/api`,
    timeout: 120000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe'
  }
});
