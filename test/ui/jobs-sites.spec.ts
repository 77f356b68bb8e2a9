import { expect, test } from '@jupyterlab/galata';

// The sites settings plugin sends JupyterLab's `jupyterlab-nexus:sites` setting to the companion
// server on load and on every change; the server validates it and reports refusals.

interface SitesAnswer {
  sites: { name: string; scheduler: string; concurrency?: number }[];
}

test('job sites from the settings reach the server, and invalid ones are reported', async ({
  page
}) => {
  const serverSites = async (): Promise<SitesAnswer> => {
    const response = await page.request.get('nexus/jobs/sites');
    expect(response.status()).toBe(200);
    return (await response.json()) as SitesAnswer;
  };

  // The settings default has no `concurrency`; the server's embedded default does, so its
  // absence shows the settings were sent.
  await expect
    .poll(async () => (await serverSites()).sites, { timeout: 30000 })
    .toEqual([expect.objectContaining({ name: 'local', scheduler: 'local' })]);
  expect((await serverSites()).sites[0].concurrency).toBeUndefined();

  const setSites = (sites: unknown) =>
    page.evaluate(async value => {
      const registry = await window.galata.getPlugin('@jupyterlab/apputils-extension:settings');
      await registry!.set('jupyterlab-nexus:sites', 'sites', value as never);
    }, sites);

  await setSites([
    { name: 'local', scheduler: 'local', concurrency: 1 },
    { name: 'cluster', scheduler: 'slurm', queues: [{ name: 'demand', maxDurationSeconds: 3600 }] }
  ]);
  await expect
    .poll(async () => (await serverSites()).sites.map(s => s.name))
    .toEqual(['local', 'cluster']);

  await setSites([{ name: 'bad', scheduler: 'lsf' }]);
  await expect
    .poll(async () => (await page.notifications).map(n => n.message).join('\n'))
    .toMatch(/not applied: invalid sites: .*scheduler must be equal to one of the allowed values/);
  expect((await serverSites()).sites.map(s => s.name)).toEqual(['local', 'cluster']);
});
