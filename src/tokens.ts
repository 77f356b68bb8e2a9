export const PLUGIN_ID = 'jupyterlab-nexus:plugin';

/** Name of the jupyter-server-proxy route of the companion server (`<base_url>nexus/`). */
export const SERVER_PREFIX = 'nexus';

/** Widget and model factory name; also the label of the "Open With" entry. */
export const FACTORY = 'NeXus Viewer';
export const MODEL_FACTORY = 'nexus-no-content';
export const FILE_TYPE = 'nexus-hdf5';
export const FILE_EXTENSIONS = ['.nxs', '.nx5', '.h5', '.hdf5', '.hdf', '.cxi'];

export const CommandIDs = {
  openFile: 'nexus:open-file',
  openSelected: 'nexus:open-selected',
  openFrameFolder: 'nexus:open-frame-folder',
  insertCode: 'nexus:insert-code',
  copyPath: 'nexus:copy-dataset-path',
  openPipelines: 'nexus:open-pipelines',
  toggleSlabs: 'nexus:toggle-slabs',
  insertSlabCode: 'nexus:insert-slab-code'
} as const;

export const PIPELINES_PLUGIN_ID = 'jupyterlab-nexus:pipelines';
export const REMOTE_PLUGIN_ID = 'jupyterlab-nexus:remote';

/** Settings of the pipeline sidebar (schema/pipelines.json). */
export interface IPipelineSettings {
  /** site preselected for Run; empty: the server's first site */
  defaultSite: string;
  /** queue preselected for Run; empty: the site's default */
  defaultQueue: string;
  /** turn auto-run on for every experiment folder picked in the sidebar */
  autoRun: boolean;
}

/** What the viewer currently shows, as far as H5Web lets us see it. */
export interface IViewerSelection {
  /** HDF5 path of the dataset being visualised. */
  datasetPath: string;
  /** h5grove slice of that dataset (e.g. `0,:,:`), if a slice is fixed. */
  selection?: string;
  /** Shape of the dataset (empty for scalars). */
  shape: number[];
}

export interface INexusSettings {
  openByDefault: boolean;
  maxSlabSize: number;
}
