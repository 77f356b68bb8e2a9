import { VDomRenderer, type LabIcon } from '@jupyterlab/ui-components';
import type { TranslationBundle } from '@jupyterlab/translation';

import { PipelinePanel } from './components/PipelinePanel';
import { RESULT_FILE, type PipelineModel } from './model';

export interface IPipelineSidebarOptions {
  model: PipelineModel;
  icon: LabIcon;
  trans: TranslationBundle;
  /** opens a file (a notebook) the usual way */
  openFile: (path: string) => Promise<unknown>;
  /** opens an HDF5/NeXus file in the NeXus panel */
  openNexus: (path: string) => Promise<unknown>;
}

/** The left sidebar widget of the pipelines; all state lives in its model. */
export class PipelineSidebar extends VDomRenderer<PipelineModel> {
  constructor(options: IPipelineSidebarOptions) {
    super(options.model);
    this._trans = options.trans;
    this._openFile = options.openFile;
    this._openNexus = options.openNexus;
    this.id = 'jp-nexus-pipelines';
    this.addClass('jp-NexusPipelines');
    this.title.icon = options.icon;
    this.title.caption = this._trans.__('NeXus Pipelines');
  }

  /** The file browser's current folder, offered as the experiment folder. */
  get browserPath(): string {
    return this._browserPath;
  }

  set browserPath(value: string) {
    if (value !== this._browserPath) {
      this._browserPath = value;
      this.update();
    }
  }

  protected render(): JSX.Element {
    const model = this.model;
    return (
      <PipelinePanel
        model={model}
        browserPath={this._browserPath}
        onPick={path => void model.setExperiment(path)}
        onExport={runId => void this._export(runId)}
        onOpenResult={(experiment, scan) => void this._openResult(experiment, scan)}
        trans={this._trans}
      />
    );
  }

  private async _export(runId: string): Promise<void> {
    const path = await this.model.exportNotebook(runId);
    if (path) {
      await this._openFile(path);
    }
  }

  private async _openResult(experiment: string, scan: string): Promise<void> {
    const parts = [experiment, scan, RESULT_FILE].filter(Boolean);
    await this._openNexus(parts.join('/'));
  }

  private readonly _trans: TranslationBundle;
  private readonly _openFile: (path: string) => Promise<unknown>;
  private readonly _openNexus: (path: string) => Promise<unknown>;
  private _browserPath = '';
}
