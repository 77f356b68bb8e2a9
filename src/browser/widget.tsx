import { lazy, Suspense } from 'react';
import { ReactWidget } from '@jupyterlab/ui-components';
import {
  ABCWidgetFactory,
  DocumentRegistry,
  DocumentWidget,
  TextModelFactory
} from '@jupyterlab/docregistry';
import { URLExt } from '@jupyterlab/coreutils';
import type { Contents, ServerConnection } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import { Signal, type ISignal } from '@lumino/signaling';

import type { EventsSocket, ServerEvent } from '../jobs/eventsSocket';
import { FACTORY, MODEL_FACTORY, SERVER_PREFIX, type IViewerSelection } from '../tokens';

import { SlabModel } from './slab/model';

const H5WebView = lazy(() => import('./H5WebView'));
const SlabPanel = lazy(() => import('./slab/SlabPanel'));

export interface INexusViewerOptions {
  path: string;
  serverSettings: ServerConnection.ISettings;
  trans: TranslationBundle;
  /** the slab panel's "Insert code" button */
  onInsertSlabCode: () => void;
}

/** The React side of the panel: H5Web on the companion server's h5grove API. */
export class NexusViewer extends ReactWidget {
  constructor(options: INexusViewerOptions) {
    super();
    this.addClass('jp-NexusViewer');
    this._path = options.path;
    this._serverSettings = options.serverSettings;
    this._trans = options.trans;
    this._onInsertSlabCode = options.onInsertSlabCode;
    this._slabs = this.createSlabModel();
  }

  /** File path relative to the Jupyter root. */
  get path(): string {
    return this._path;
  }

  set path(value: string) {
    if (value !== this._path) {
      this._path = value;
      this._selection = null;
      this._slabs.dispose();
      this._slabs = this.createSlabModel();
      this.update();
    }
  }

  get selection(): IViewerSelection | null {
    return this._selection;
  }

  get selectionChanged(): ISignal<this, IViewerSelection | null> {
    return this._selectionChanged;
  }

  /** The slab control of this file (raw scans with geometry and transformed volumes). */
  get slabs(): SlabModel {
    return this._slabs;
  }

  get slabsVisible(): boolean {
    return this._slabsVisible;
  }

  set slabsVisible(value: boolean) {
    this._slabsVisible = value;
    this.update();
  }

  dispose(): void {
    this._slabs.dispose();
    super.dispose();
  }

  private createSlabModel(): SlabModel {
    const model = new SlabModel(
      URLExt.join(this._serverSettings.baseUrl, SERVER_PREFIX),
      this._serverSettings.token,
      this._path
    );
    model.changed.connect(() => this.update());
    void model.loadSource();
    return model;
  }

  /** Drop H5Web's cache and re-read the file. */
  refresh(): void {
    this._resetKey += 1;
    this.update();
  }

  protected render(): JSX.Element {
    const url = URLExt.join(this._serverSettings.baseUrl, SERVER_PREFIX);
    const loading = (
      <div className="jp-NexusViewer-loading">{this._trans.__('Loading NeXus Viewer…')}</div>
    );
    const showSlabs = this._slabsVisible && !!this._slabs.source?.kind;
    return (
      <div className="jp-NexusViewer-layout">
        <div className="jp-NexusViewer-main">
          <Suspense fallback={loading}>
            <H5WebView
              key={this._path}
              url={url}
              filepath={this._path}
              token={this._serverSettings.token}
              resetKey={this._resetKey}
              onSelection={this._onSelection}
            />
          </Suspense>
        </div>
        {showSlabs && (
          <Suspense fallback={loading}>
            <SlabPanel
              key={this._path}
              model={this._slabs}
              trans={this._trans}
              onInsertCode={this._onInsertSlabCode}
            />
          </Suspense>
        )}
      </div>
    );
  }

  // Called from inside H5Web's render: record only, never trigger a React update.
  private _onSelection = (selection: IViewerSelection): void => {
    const old = this._selection;
    if (old && old.datasetPath === selection.datasetPath && old.selection === selection.selection) {
      return;
    }
    this._selection = selection;
    this._selectionChanged.emit(selection);
  };

  private _path: string;
  private _slabs: SlabModel;
  private _slabsVisible = true;
  private _onInsertSlabCode: () => void;
  private _serverSettings: ServerConnection.ISettings;
  private _trans: TranslationBundle;
  private _resetKey = 0;
  private _selection: IViewerSelection | null = null;
  private _selectionChanged = new Signal<this, IViewerSelection | null>(this);
}

export type NexusDocument = DocumentWidget<NexusViewer>;

/**
 * Model factory whose `fileFormat` is null: JupyterLab 4's document context then asks
 * the Contents API for metadata only (`content=0`), so opening a multi-GB HDF5 file
 * does not download it. The data is read by the companion server instead.
 */
export class NoContentModelFactory extends TextModelFactory {
  get name(): string {
    return MODEL_FACTORY;
  }

  get contentType(): Contents.ContentType {
    return 'file';
  }

  get fileFormat(): Contents.FileFormat {
    return null;
  }
}

export interface INexusWidgetFactoryOptions extends DocumentRegistry.IWidgetFactoryOptions<NexusDocument> {
  serverSettings: ServerConnection.ISettings;
  trans: TranslationBundle;
  onInsertSlabCode: () => void;
  /** the companion server's /events: open panels refresh when their file changes */
  events?: EventsSocket;
}

export class NexusWidgetFactory extends ABCWidgetFactory<NexusDocument> {
  constructor(options: INexusWidgetFactoryOptions) {
    super(options);
    this._serverSettings = options.serverSettings;
    this._trans = options.trans;
    this._onInsertSlabCode = options.onInsertSlabCode;
    this._events = options.events;
  }

  protected createNewWidget(context: DocumentRegistry.Context): NexusDocument {
    // The model is an empty placeholder: saving it would truncate the HDF5 file.
    context.save = () => Promise.resolve();
    context.saveAs = () => Promise.resolve(false);
    // The context checkpoints writable files when they are opened: on the server that
    // is a full copy of the (possibly multi-GB) HDF5 file into .ipynb_checkpoints.
    context.createCheckpoint = () =>
      Promise.resolve({ id: '', last_modified: new Date().toISOString() });
    context.restoreCheckpoint = () => Promise.resolve();

    const content = new NexusViewer({
      path: context.localPath,
      serverSettings: this._serverSettings,
      trans: this._trans,
      onInsertSlabCode: this._onInsertSlabCode
    });
    const widget = new DocumentWidget({ content, context });
    widget.addClass('jp-NexusDocument');
    widget.title.caption = context.path;
    context.pathChanged.connect((_, path) => {
      content.path = context.localPath;
      widget.title.caption = path;
    });
    // A file being written (frames appended): H5Web re-reads it through resetKeys, which keeps
    // the App's state (selected path, slice, zoom) and only drops the provider's caches.
    const onEvent = (_: EventsSocket, event: ServerEvent): void => {
      if (event.type === 'file-changed' && event.file === content.path) {
        content.refresh();
      }
    };
    this._events?.message.connect(onEvent);
    widget.disposed.connect(() => this._events?.message.disconnect(onEvent));
    let lastModified: string | undefined;
    context.fileChanged.connect((_, model) => {
      const modified = model.last_modified;
      if (lastModified !== undefined && modified !== lastModified) {
        content.refresh();
      }
      lastModified = modified;
    });
    return widget;
  }

  private _serverSettings: ServerConnection.ISettings;
  private _trans: TranslationBundle;
  private _onInsertSlabCode: () => void;
  private _events?: EventsSocket;
}

export { FACTORY };
