import {
  ILayoutRestorer,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, WidgetTracker } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';

import {
  CommandIDs,
  FACTORY,
  FILE_EXTENSIONS,
  FILE_TYPE,
  MODEL_FACTORY,
  PLUGIN_ID,
  type INexusSettings
} from './tokens';
import { NexusWidgetFactory, NoContentModelFactory, type NexusDocument } from './browser/widget';
import { h5pyCode, insertCodeCell } from './browser/insertCode';
import { openViewerPanel } from './browser/viewerPanel';
import { EventsSocket } from './jobs/eventsSocket';
import { sitesPlugin } from './jobs/sitesPlugin';
import { pipelinesPlugin } from './pipelines/plugin';
import { remotePlugin } from './remote/plugin';
import { loadLiveSettings } from './settings';

const nexusIcon = new LabIcon({
  name: 'jupyterlab-nexus:file',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<path d="M6 2h9l5 5v15H6z" fill-opacity=".25"/>' +
    '<path d="M8 17V9h1.6l3.4 5.2V9h1.6v8h-1.6L9.6 11.8V17z"/></g></svg>'
});

const DEFAULT_SETTINGS: INexusSettings = {
  openByDefault: true,
  maxSlabSize: 16777216
};

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'NeXus/HDF5 viewer (H5Web) served by the jupyterlab-nexus companion server.',
  autoStart: true,
  optional: [
    ISettingRegistry,
    ITranslator,
    ICommandPalette,
    ILayoutRestorer,
    IDefaultFileBrowser,
    INotebookTracker
  ],
  activate: async (
    app: JupyterFrontEnd,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    fileBrowser: IDefaultFileBrowser | null,
    notebooks: INotebookTracker | null
  ): Promise<void> => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_nexus');
    const { commands, docRegistry } = app;
    const serverSettings = app.serviceManager.serverSettings;

    const settings = await loadLiveSettings(settingRegistry, PLUGIN_ID, DEFAULT_SETTINGS);

    docRegistry.addFileType({
      name: FILE_TYPE,
      displayName: trans.__('NeXus/HDF5 file'),
      extensions: FILE_EXTENSIONS,
      mimeTypes: ['application/x-hdf5', 'application/x-nexus'],
      contentType: 'file',
      fileFormat: null,
      icon: nexusIcon
    });
    docRegistry.addModelFactory(new NoContentModelFactory());

    // live files: the server pushes a change of any file or frame folder whose panel is open
    const events = new EventsSocket({ serverSettings });
    const factory = new NexusWidgetFactory({
      name: FACTORY,
      label: trans.__('NeXus Viewer'),
      modelName: MODEL_FACTORY,
      fileTypes: [FILE_TYPE],
      defaultFor: settings.openByDefault ? [FILE_TYPE] : [],
      readOnly: true,
      canStartKernel: false,
      serverSettings,
      trans,
      onInsertSlabCode: () => void commands.execute(CommandIDs.insertSlabCode),
      events
    });
    docRegistry.addWidgetFactory(factory);

    const tracker = new WidgetTracker<NexusDocument>({ namespace: 'nexus-viewer' });
    factory.widgetCreated.connect((_, widget) => {
      widget.title.icon = nexusIcon;
      widget.context.pathChanged.connect(() => void tracker.save(widget));
      widget.content.selectionChanged.connect(() => commands.notifyCommandChanged());
      void tracker.add(widget);
    });
    if (restorer) {
      void restorer.restore(tracker, {
        command: 'docmanager:open',
        args: widget => ({ path: widget.context.path, factory: FACTORY }),
        name: widget => widget.context.path
      });
    }

    commands.addCommand(CommandIDs.openFile, {
      label: args =>
        args.path
          ? trans.__('Open %1 in NeXus Viewer', String(args.path))
          : trans.__('Open in NeXus Viewer'),
      caption: trans.__('Open an HDF5/NeXus file in the NeXus Viewer'),
      icon: args => (args.isPalette ? undefined : nexusIcon),
      describedBy: {
        args: {
          type: 'object',
          properties: {
            path: { type: 'string', description: 'File path relative to the Jupyter root' }
          },
          required: ['path']
        }
      },
      execute: args =>
        commands.execute('docmanager:open', {
          path: String(args.path),
          factory: FACTORY
        })
    });

    commands.addCommand(CommandIDs.openSelected, {
      label: trans.__('Open in NeXus Viewer'),
      icon: nexusIcon,
      isVisible: () =>
        !!fileBrowser &&
        Array.from(fileBrowser.selectedItems()).some(item => item.type !== 'directory'),
      execute: async () => {
        if (!fileBrowser) {
          return;
        }
        for (const item of fileBrowser.selectedItems()) {
          if (item.type !== 'directory') {
            await commands.execute(CommandIDs.openFile, { path: item.path });
          }
        }
      }
    });

    commands.addCommand(CommandIDs.openFrameFolder, {
      label: trans.__('Open as frame stack in NeXus Viewer'),
      caption: trans.__(
        'Show the TIFF/CBF frame files of a folder as one growing stack in the NeXus Viewer'
      ),
      icon: args => (args.isPalette ? undefined : nexusIcon),
      describedBy: {
        args: {
          type: 'object',
          properties: {
            path: { type: 'string', description: 'Folder path relative to the Jupyter root' }
          }
        }
      },
      isVisible: args =>
        typeof args.path === 'string' ||
        (!!fileBrowser &&
          Array.from(fileBrowser.selectedItems()).some(item => item.type === 'directory')),
      execute: args => {
        const folders =
          typeof args.path === 'string'
            ? [args.path]
            : Array.from(fileBrowser?.selectedItems() ?? [])
                .filter(item => item.type === 'directory')
                .map(item => item.path);
        for (const file of folders) {
          openViewerPanel({ app, file, serverSettings, trans, events, icon: nexusIcon });
        }
      }
    });

    const currentView = () => tracker.currentWidget?.content ?? null;

    commands.addCommand(CommandIDs.insertCode, {
      label: trans.__('Insert h5py Code for the Viewed Dataset'),
      caption: trans.__(
        'Insert a notebook cell that loads the dataset (and slice) shown in the NeXus Viewer'
      ),
      isEnabled: () => !!currentView()?.selection && !!notebooks?.currentWidget,
      execute: () => {
        const view = currentView();
        const panel = notebooks?.currentWidget;
        if (!view?.selection || !panel) {
          return;
        }
        const code = h5pyCode(
          panel.context.localPath,
          view.path,
          view.selection,
          settings.maxSlabSize
        );
        insertCodeCell(panel, code);
        app.shell.activateById(panel.id);
      }
    });

    commands.addCommand(CommandIDs.toggleSlabs, {
      label: trans.__('Show HKL Slabs'),
      caption: trans.__('Show or hide the HKL slab control of the NeXus Viewer'),
      isToggled: () => !!currentView()?.slabsVisible,
      isEnabled: () => !!currentView()?.slabs.source?.kind,
      execute: () => {
        const view = currentView();
        if (view) {
          view.slabsVisible = !view.slabsVisible;
        }
      }
    });

    commands.addCommand(CommandIDs.insertSlabCode, {
      label: trans.__('Insert Code Recomputing the HKL Slab'),
      caption: trans.__(
        'Insert a notebook cell that recomputes the current slab (nexus-transform, or h5py for a cut)'
      ),
      isEnabled: () => !!currentView()?.slabs.result && !!notebooks?.currentWidget,
      execute: async () => {
        const slabs = currentView()?.slabs;
        const panel = notebooks?.currentWidget;
        if (!slabs?.result || !panel) {
          return;
        }
        insertCodeCell(panel, await slabs.code());
        app.shell.activateById(panel.id);
      }
    });

    commands.addCommand(CommandIDs.copyPath, {
      label: trans.__('Copy Viewed Dataset Path'),
      isEnabled: () => !!currentView()?.selection,
      execute: async () => {
        const selection = currentView()?.selection;
        if (selection) {
          await navigator.clipboard.writeText(selection.datasetPath);
        }
      }
    });

    app.contextMenu.addItem({
      command: CommandIDs.openSelected,
      selector: `.jp-DirListing-item[data-file-type="${FILE_TYPE}"]`,
      rank: 1
    });
    app.contextMenu.addItem({
      command: CommandIDs.openFrameFolder,
      selector: '.jp-DirListing-item[data-isdir="true"]',
      rank: 1
    });
    app.contextMenu.addItem({
      command: CommandIDs.insertCode,
      selector: '.jp-NexusViewer',
      rank: 1
    });
    app.contextMenu.addItem({
      command: CommandIDs.copyPath,
      selector: '.jp-NexusViewer',
      rank: 2
    });

    if (palette) {
      const category = trans.__('NeXus');
      palette.addItem({ command: CommandIDs.openSelected, category });
      palette.addItem({ command: CommandIDs.insertCode, category });
      palette.addItem({ command: CommandIDs.copyPath, category });
      palette.addItem({ command: CommandIDs.toggleSlabs, category });
      palette.addItem({ command: CommandIDs.insertSlabCode, category });
    }
  }
};

export default [plugin, sitesPlugin, pipelinesPlugin, remotePlugin];
