import type { Sites } from '../jobs/sites.js';
import { RemoteFilePoller } from '../live/remote-files.js';
import type { SitesContext } from './cross-site.js';
import type { SiteChannel } from './channel.js';
import { SshSite } from './ssh-site.js';

// The sites with an `ssh` block, kept in step with the sites file. A changed site gets a new
// connection; the old one is closed.

export class RemoteSites implements SitesContext {
  private readonly byName = new Map<string, { key: string; site: SshSite }>();
  /** remote files clients look at, polled for changes */
  readonly live = new RemoteFilePoller(this);

  constructor(
    private readonly sites: Sites,
    readonly local: SiteChannel
  ) {
    this.update();
    sites.on('change', () => this.update());
  }

  site(name: string): SshSite | undefined {
    return this.byName.get(name)?.site;
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  close(): void {
    this.live.close();
    for (const { site } of this.byName.values()) {
      site.close();
    }
    this.byName.clear();
  }

  private update(): void {
    const seen = new Set<string>();
    for (const config of this.sites.value.sites) {
      if (!config.ssh) {
        continue;
      }
      seen.add(config.name);
      const key = JSON.stringify(config.ssh);
      if (this.byName.get(config.name)?.key !== key) {
        this.byName.get(config.name)?.site.close();
        this.byName.set(config.name, { key, site: new SshSite(config.name, config.ssh) });
      }
    }
    for (const [name, { site }] of this.byName) {
      if (!seen.has(name)) {
        site.close();
        this.byName.delete(name);
      }
    }
  }
}
