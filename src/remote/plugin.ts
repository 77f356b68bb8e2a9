import { type JupyterFrontEnd, type JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';

import { openViewerPanel } from '../browser/viewerPanel';
import { EventsSocket } from '../jobs/eventsSocket';
import { REMOTE_PLUGIN_ID } from '../tokens';
import { RemoteBrowser } from './RemoteBrowser';

const remoteIcon = new LabIcon({
  name: 'jupyterlab-nexus:remote',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<rect x="3" y="4" width="18" height="6" rx="1"/><rect x="3" y="14" width="18" height="6" rx="1"/>' +
    '</g></svg>'
});

/** Left sidebar rank: after the pipeline sidebar. */
const SIDEBAR_RANK = 650;

export const remotePlugin: JupyterFrontEndPlugin<void> = {
  id: REMOTE_PLUGIN_ID,
  description: 'Remote sites: browse their files over SSH and open them in the NeXus Viewer.',
  autoStart: true,
  optional: [ITranslator],
  activate: (app: JupyterFrontEnd, translator: ITranslator | null) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_nexus');
    const serverSettings = app.serviceManager.serverSettings;
    // opened with the first remote file: the server polls the files panels look at
    let events: EventsSocket | undefined;
    const browser = new RemoteBrowser({
      serverSettings,
      trans,
      onOpen: uri => {
        events ??= new EventsSocket({ serverSettings });
        openViewerPanel({ app, file: uri, serverSettings, trans, events, icon: remoteIcon });
      }
    });
    browser.id = 'jupyterlab-nexus-remote';
    browser.title.icon = remoteIcon;
    browser.title.caption = trans.__('Remote sites');
    app.shell.add(browser, 'left', { rank: SIDEBAR_RANK });
  }
};
