import { EventEmitter } from 'node:events';
import { parseGlobalUri, type DirectoryEntry } from '../../src/protocol/sites.js';
import { readBody } from '../remote/channel.js';
import type { SitesContext } from '../remote/cross-site.js';
import type { LiveFilesEvents } from './live-files.js';

// Live files on remote sites: no watcher reaches across SSH, so the remote files whose /meta a
// client asked for are polled, one directory listing per file and interval, over the site's
// channel; a changed size or modification time is a 'changed' event, as for local files.

const POLL_MS = 1000;
/** remote files polled at most; the least recently requested is dropped first */
const MAX_POLLED = 64;

export class RemoteFilePoller extends EventEmitter<LiveFilesEvents> {
  /** global URI → last seen "size:mtime" (undefined until the first listing) */
  private readonly stamps = new Map<string, string | undefined>();
  private readonly timer: NodeJS.Timeout;
  private polling = false;

  constructor(private readonly sites: SitesContext) {
    super();
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  watch(file: string): void {
    const global = parseGlobalUri(file);
    if (!global || !this.sites.site(global.site)) {
      return;
    }
    const stamp = this.stamps.get(file);
    this.stamps.delete(file);
    this.stamps.set(file, stamp);
    while (this.stamps.size > MAX_POLLED) {
      this.stamps.delete(this.stamps.keys().next().value as string);
    }
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async poll(): Promise<void> {
    if (this.polling) {
      return; // a slow site: never pile up listings
    }
    this.polling = true;
    try {
      await Promise.all([...this.stamps.keys()].map(file => this.check(file)));
    } finally {
      this.polling = false;
    }
  }

  private async check(file: string): Promise<void> {
    const { site, path } = parseGlobalUri(file)!;
    const channel = this.sites.site(site);
    const slash = path.lastIndexOf('/');
    const [dir, name] = slash < 0 ? ['', path] : [path.slice(0, slash), path.slice(slash + 1)];
    try {
      const answer = await channel!.get(`/ls?${new URLSearchParams({ path: dir })}`);
      const body = await readBody(answer);
      if (answer.statusCode !== 200) {
        return;
      }
      const entry = (JSON.parse(body.toString('utf8')) as DirectoryEntry[]).find(
        e => e.name === name
      );
      const stamp = entry ? `${entry.size}:${entry.mtimeMs}` : 'gone';
      const before = this.stamps.get(file);
      if (!this.stamps.has(file)) {
        return; // dropped meanwhile
      }
      this.stamps.set(file, stamp);
      if (before !== undefined && before !== stamp) {
        this.emit('changed', file);
      }
    } catch {
      // an unreachable site: the next poll tries again
    }
  }
}
