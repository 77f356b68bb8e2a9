import type { SchedulerAdapter } from './adapter.js';
import { LocalAdapter } from './local.js';
import { PbsAdapter } from './pbs.js';
import type { SiteConfig } from './sites.js';
import { SlurmAdapter } from './slurm.js';

// One adapter per configured site, chosen by the site's scheduler kind.

export function createAdapter(site: SiteConfig): SchedulerAdapter {
  switch (site.scheduler) {
    case 'local':
      return new LocalAdapter(site);
    case 'slurm':
      return new SlurmAdapter({ site });
    case 'pbs':
      return new PbsAdapter({ site });
  }
}
