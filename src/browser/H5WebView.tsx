// Loaded with a dynamic import(): H5Web is ~1.2 MiB and only needed once a file is opened.
import { useCallback } from 'react';
import {
  App,
  H5GroveProvider,
  hasArrayShape,
  hasNumericType,
  type Dataset,
  type ExportFormat,
  type ExportURL,
  type BuiltInExporter
} from '@h5web/app';

import type { IViewerSelection } from '../tokens';
import { getFetcher, requestInit } from './fetcher';

export interface IH5WebViewProps {
  /** Root of the h5grove API (the proxied companion server). */
  url: string;
  /** File path relative to the Jupyter root. */
  filepath: string;
  token: string;
  resetKey: number;
  /** Called with what H5Web is currently visualising. */
  onSelection: (selection: IViewerSelection) => void;
}

const SERVER_EXPORTS = new Set<ExportFormat>(['npy', 'tiff']);

export function H5WebView(props: IH5WebViewProps): JSX.Element {
  const { url, filepath, token, resetKey, onSelection } = props;

  // H5Web has no selection callback, but it asks the provider for export URLs of the
  // dataset (and slice) it renders, every time the toolbar renders: that is our hook.
  const getExportURL = useCallback(
    (
      format: ExportFormat,
      dataset: Dataset,
      selection: string | undefined,
      builtInExporter: BuiltInExporter | undefined
    ): ExportURL | undefined => {
      onSelection({
        datasetPath: dataset.path,
        selection,
        shape: hasArrayShape(dataset) ? [...dataset.shape.dims] : []
      });
      if (builtInExporter) {
        return undefined; // H5Web builds JSON/CSV itself
      }
      if (!SERVER_EXPORTS.has(format) || !hasArrayShape(dataset) || !hasNumericType(dataset)) {
        return undefined;
      }
      const params = new URLSearchParams({
        file: filepath,
        path: dataset.path,
        format,
        ...(selection ? { selection } : {})
      });
      // A plain URL would be opened without our Authorization header.
      return async () => {
        const response = await fetch(`${url}/data?${params.toString()}`, requestInit(token));
        if (!response.ok) {
          throw new Error(`Export failed: ${response.status} ${response.statusText}`);
        }
        return response.blob();
      };
    },
    [url, filepath, token, onSelection]
  );

  return (
    <H5GroveProvider
      url={url}
      filepath={filepath}
      fetcher={getFetcher(token)}
      getExportURL={getExportURL}
      resetKeys={[resetKey]}
    >
      <App disableDarkMode />
    </H5GroveProvider>
  );
}

export default H5WebView;
