import { expect, test } from '@jupyterlab/galata';

// Job events reach the browser through Jupyter's authenticated proxy: the /events WebSocket of
// the companion server, which listens on a unix socket behind jupyter-server-proxy.

test('a job submitted through the proxy is pushed over the /events WebSocket', async ({ page }) => {
  const token = process.env.NEXUS_UI_TOKEN!;
  const states = await page.evaluate(async token => {
    const ws = new WebSocket(
      `${location.origin.replace(/^http/, 'ws')}/nexus/events?token=${encodeURIComponent(token)}`
    );
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const seen: string[] = [];
    const completed = new Promise<void>(resolve => {
      ws.onmessage = event => {
        const message = JSON.parse(String(event.data)) as { job: { status: { state: string } } };
        seen.push(message.job.status.state);
        if (message.job.status.state === 'COMPLETED') {
          resolve();
        }
      };
    });
    const response = await fetch('/nexus/jobs', {
      method: 'POST',
      headers: { Authorization: `token ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ spec: { command: ['true'] } })
    });
    if (response.status !== 201) {
      throw new Error(`submit answered ${response.status}: ${await response.text()}`);
    }
    await completed;
    ws.close();
    return seen;
  }, token);
  expect(states.filter(s => s !== 'ACTIVE')).toEqual(['NEW', 'QUEUED', 'COMPLETED']);
});
