import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type {
  GridView,
  NotebookRequest,
  NotebookResult,
  RunFilter,
  RunRequest,
  RunView,
  WatchSetting
} from '../protocol/pipelines';
import { SERVER_PREFIX } from '../tokens';

/** A job site as GET /jobs/sites lists it (only what the sidebar shows). */
export interface ISiteChoice {
  name: string;
  description?: string;
  scheduler: string;
  defaultQueue?: string;
  queues?: { name: string }[];
}

export type LogStream = 'stdout' | 'stderr';

/** The companion server's pipeline and job endpoints, through the jupyter-server-proxy route. */
export class PipelinesApi {
  constructor(serverSettings: ServerConnection.ISettings) {
    this._serverSettings = serverSettings;
  }

  grid(experiment: string): Promise<GridView> {
    return this._json(`pipelines/grid?experiment=${encodeURIComponent(experiment)}`);
  }

  runs(filter?: RunFilter): Promise<RunView[]> {
    return this._json(`pipelines/runs${filter ? `?filter=${filter}` : ''}`);
  }

  run(id: string): Promise<RunView> {
    return this._json(`pipelines/runs/${encodeURIComponent(id)}`);
  }

  startRun(request: RunRequest): Promise<RunView> {
    return this._json('pipelines/runs', { method: 'POST', body: JSON.stringify(request) });
  }

  cancelRun(id: string): Promise<RunView> {
    return this._json(`pipelines/runs/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
  }

  retryRun(id: string): Promise<RunView> {
    return this._json(`pipelines/runs/${encodeURIComponent(id)}/retry`, {
      method: 'POST',
      body: '{}'
    });
  }

  setWatch(watch: WatchSetting): Promise<WatchSetting> {
    return this._json('pipelines/watch', { method: 'PUT', body: JSON.stringify(watch) });
  }

  exportNotebook(request: NotebookRequest): Promise<NotebookResult> {
    return this._json('pipelines/notebook', { method: 'POST', body: JSON.stringify(request) });
  }

  async sites(): Promise<ISiteChoice[]> {
    return (await this._json<{ sites: ISiteChoice[] }>('jobs/sites')).sites;
  }

  /** The last part of a job's stdout or stderr (all tasks of an array job: task 0). */
  async logs(jobId: string, stream: LogStream): Promise<string> {
    const response = await this._request(`jobs/${encodeURIComponent(jobId)}/logs?stream=${stream}`);
    return response.text();
  }

  private async _json<T>(route: string, init: RequestInit = {}): Promise<T> {
    return (await (await this._request(route, init)).json()) as T;
  }

  private async _request(route: string, init: RequestInit = {}): Promise<Response> {
    const url = URLExt.join(this._serverSettings.baseUrl, SERVER_PREFIX, route);
    const response = await ServerConnection.makeRequest(url, init, this._serverSettings);
    if (!response.ok) {
      const body = (await response.json().catch(() => ({}))) as { message?: string };
      throw new Error(body.message ?? `${response.status} ${response.statusText}`);
    }
    return response;
  }

  private readonly _serverSettings: ServerConnection.ISettings;
}
