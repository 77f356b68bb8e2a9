import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { SERVER_PREFIX } from '../tokens';

// The job sites live in JupyterLab's settings (plugin `jupyterlab-nexus:sites`) so users edit
// them in the Settings Editor; the companion server validates and keeps them, so this plugin
// only sends them on load and on every change.

export const SITES_PLUGIN_ID = 'jupyterlab-nexus:sites';

async function sendSites(
  serverSettings: ServerConnection.ISettings,
  sites: unknown
): Promise<void> {
  const url = URLExt.join(serverSettings.baseUrl, SERVER_PREFIX, 'jobs', 'sites');
  const response = await ServerConnection.makeRequest(
    url,
    { method: 'PUT', body: JSON.stringify({ sites }) },
    serverSettings
  );
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { message?: string };
    throw new Error(body.message ?? response.statusText);
  }
}

export const sitesPlugin: JupyterFrontEndPlugin<void> = {
  id: SITES_PLUGIN_ID,
  description: 'Sends the job sites from the JupyterLab settings to the companion server.',
  autoStart: true,
  requires: [ISettingRegistry],
  optional: [ITranslator],
  activate: async (
    app: JupyterFrontEnd,
    settingRegistry: ISettingRegistry,
    translator: ITranslator | null
  ): Promise<void> => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_nexus');
    const setting = await settingRegistry.load(SITES_PLUGIN_ID);
    const push = async () => {
      try {
        await sendSites(app.serviceManager.serverSettings, setting.get('sites').composite);
      } catch (reason) {
        Notification.error(
          trans.__('The NeXus job sites were not applied: %1', (reason as Error).message)
        );
      }
    };
    setting.changed.connect(() => void push());
    void push();
  }
};
