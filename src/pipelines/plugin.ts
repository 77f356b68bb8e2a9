import {
  ILayoutRestorer,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';

import { EventsSocket } from '../jobs/eventsSocket';
import { loadLiveSettings } from '../settings';
import { CommandIDs, PIPELINES_PLUGIN_ID, type IPipelineSettings } from '../tokens';
import { PipelinesApi } from './api';
import { PipelineModel } from './model';
import { PipelineSidebar } from './sidebar';

const pipelineIcon = new LabIcon({
  name: 'jupyterlab-nexus:pipelines',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<rect x="3" y="4" width="5" height="4" rx="1"/><rect x="10" y="4" width="5" height="4" rx="1"/>' +
    '<rect x="17" y="4" width="4" height="4" rx="1" fill-opacity=".4"/>' +
    '<rect x="3" y="10" width="5" height="4" rx="1"/><rect x="10" y="10" width="5" height="4" rx="1" fill-opacity=".4"/>' +
    '<rect x="17" y="10" width="4" height="4" rx="1" fill-opacity=".4"/>' +
    '<path d="M3 17h18v2H3z"/></g></svg>'
});

const DEFAULT_SETTINGS: IPipelineSettings = { defaultSite: '', defaultQueue: '', autoRun: false };

/** Left sidebar rank: below the file browser, running sessions, table of contents, extensions. */
const SIDEBAR_RANK = 600;

export const pipelinesPlugin: JupyterFrontEndPlugin<void> = {
  id: PIPELINES_PLUGIN_ID,
  description:
    'Pipeline sidebar: reduction steps over the scans of an experiment folder, run as jobs.',
  autoStart: true,
  optional: [ISettingRegistry, ITranslator, ICommandPalette, ILayoutRestorer, IDefaultFileBrowser],
  activate: async (
    app: JupyterFrontEnd,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    fileBrowser: IDefaultFileBrowser | null
  ): Promise<void> => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_nexus');
    const { commands, shell } = app;
    const serverSettings = app.serviceManager.serverSettings;

    const settings = await loadLiveSettings(settingRegistry, PIPELINES_PLUGIN_ID, DEFAULT_SETTINGS);

    const events = new EventsSocket({ serverSettings });
    const model = new PipelineModel({
      api: new PipelinesApi(serverSettings),
      events,
      settings: () => settings
    });
    const sidebar = new PipelineSidebar({
      model,
      icon: pipelineIcon,
      trans,
      openFile: path => commands.execute('docmanager:open', { path }),
      openNexus: path => commands.execute(CommandIDs.openFile, { path })
    });
    if (fileBrowser) {
      const follow = () => (sidebar.browserPath = fileBrowser.model.path);
      follow();
      fileBrowser.model.pathChanged.connect(follow);
    }
    shell.add(sidebar, 'left', { rank: SIDEBAR_RANK });
    if (restorer) {
      restorer.add(sidebar, 'nexus-pipelines');
    }

    commands.addCommand(CommandIDs.openPipelines, {
      label: trans.__('Open NeXus Pipelines'),
      caption: trans.__(
        'Show the pipeline sidebar for an experiment folder (default: the file browser folder)'
      ),
      icon: args => (args.isPalette ? undefined : pipelineIcon),
      describedBy: {
        args: {
          type: 'object',
          properties: {
            path: {
              type: 'string',
              description: 'Experiment folder relative to the Jupyter root'
            }
          }
        }
      },
      execute: async args => {
        shell.activateById(sidebar.id);
        const path = typeof args.path === 'string' ? args.path : sidebar.browserPath;
        await model.setExperiment(path);
      }
    });
    palette?.addItem({ command: CommandIDs.openPipelines, category: trans.__('NeXus') });
    app.contextMenu.addItem({
      command: CommandIDs.openPipelines,
      selector: '.jp-DirListing-content',
      rank: 10
    });
  }
};
