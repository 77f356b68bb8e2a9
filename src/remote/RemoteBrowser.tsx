import { useEffect, useState } from 'react';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';

import { globalUri, type DirectoryEntry } from '../protocol/sites';
import { SERVER_PREFIX } from '../tokens';

// The remote sites' files (sites with an `ssh` block), listed by each site's own server through
// GET /sites/:name/ls; a file opens in the NeXus panel as nexus://<site>/<path>.

async function getJson<T>(serverSettings: ServerConnection.ISettings, route: string): Promise<T> {
  const url = URLExt.join(serverSettings.baseUrl, SERVER_PREFIX, route);
  const response = await ServerConnection.makeRequest(url, {}, serverSettings);
  const body = (await response.json()) as T & { message?: string };
  if (!response.ok) {
    throw new Error(body.message ?? response.statusText);
  }
  return body;
}

interface IRemoteBrowserProps {
  serverSettings: ServerConnection.ISettings;
  trans: TranslationBundle;
  onOpen: (uri: string) => void;
}

function RemoteBrowserView({
  serverSettings,
  trans,
  onOpen,
  generation
}: IRemoteBrowserProps & { generation: number }): JSX.Element {
  const [sites, setSites] = useState<string[]>([]);
  const [site, setSite] = useState<string>('');
  const [dir, setDir] = useState<string>('');
  const [entries, setEntries] = useState<DirectoryEntry[]>([]);
  const [error, setError] = useState<string>('');

  useEffect(() => {
    getJson<string[]>(serverSettings, 'sites')
      .then(names => {
        setSites(names);
        setSite(current => current || names[0] || '');
      })
      .catch((e: Error) => setError(e.message));
  }, [serverSettings, generation]);

  useEffect(() => {
    if (!site) {
      return;
    }
    setError('');
    getJson<DirectoryEntry[]>(
      serverSettings,
      `sites/${encodeURIComponent(site)}/ls?${new URLSearchParams({ path: dir })}`
    )
      .then(setEntries)
      .catch((e: Error) => {
        setEntries([]);
        setError(e.message);
      });
  }, [serverSettings, site, dir, generation]);

  const join = (name: string) => (dir ? `${dir}/${name}` : name);
  return (
    <div className="jp-NexusRemote">
      <select
        aria-label={trans.__('Remote site')}
        value={site}
        onChange={e => {
          setSite(e.target.value);
          setDir('');
        }}
      >
        {sites.length === 0 && <option value="">{trans.__('No remote sites')}</option>}
        {sites.map(name => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
      <div className="jp-NexusRemote-path">{globalUri(site, dir)}</div>
      {error && <div className="jp-NexusRemote-error">{error}</div>}
      <ul className="jp-NexusRemote-list">
        {dir && (
          <li>
            <button onClick={() => setDir(dir.split('/').slice(0, -1).join('/'))}>..</button>
          </li>
        )}
        {entries.map(entry => (
          <li key={entry.name} data-kind={entry.kind}>
            <button
              onClick={() =>
                entry.kind === 'directory'
                  ? setDir(join(entry.name))
                  : onOpen(globalUri(site, join(entry.name)))
              }
            >
              {entry.kind === 'directory' ? `${entry.name}/` : entry.name}
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

export class RemoteBrowser extends ReactWidget {
  constructor(private readonly props: IRemoteBrowserProps) {
    super();
    this.addClass('jp-NexusRemoteBrowser');
  }

  /** Sites may have changed in the settings meanwhile: read them again whenever shown. */
  protected onAfterShow(): void {
    this._generation += 1;
    this.update();
  }

  protected render(): JSX.Element {
    return <RemoteBrowserView {...this.props} generation={this._generation} />;
  }

  private _generation = 0;
}
