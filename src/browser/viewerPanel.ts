import type { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import type { ServerConnection } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { LabIcon } from '@jupyterlab/ui-components';

import type { EventsSocket, ServerEvent } from '../jobs/eventsSocket';
import { NexusViewer } from './widget';

// A NeXus Viewer panel for what is no Jupyter document (a file on a remote site, a folder of
// frame files): a main-area widget on the h5grove `file`, refreshed on the server's
// file-changed events for it.

export interface IViewerPanelOptions {
  app: JupyterFrontEnd;
  /** the h5grove `file`: a path relative to the served root, or a site URI */
  file: string;
  serverSettings: ServerConnection.ISettings;
  trans: TranslationBundle;
  events: EventsSocket;
  icon: LabIcon;
}

export function openViewerPanel(options: IViewerPanelOptions): MainAreaWidget<NexusViewer> {
  const { app, file, events } = options;
  const content = new NexusViewer({
    path: file,
    serverSettings: options.serverSettings,
    trans: options.trans,
    onInsertSlabCode: () => undefined
  });
  const onEvent = (_: EventsSocket, event: ServerEvent): void => {
    if (event.type === 'file-changed' && event.file === file) {
      content.refresh();
    }
  };
  events.message.connect(onEvent);
  const widget = new MainAreaWidget({ content });
  widget.disposed.connect(() => events.message.disconnect(onEvent));
  widget.title.label = file.split('/').pop() || file;
  widget.title.caption = file;
  widget.title.icon = options.icon;
  widget.title.closable = true;
  widget.addClass('jp-NexusDocument');
  app.shell.add(widget, 'main');
  return widget;
}
