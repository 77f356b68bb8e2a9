import { Ajv } from 'ajv';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JobSpec } from '../../src/protocol/jobs.js';
import sitesSchema from '../../schema/sites.schema.json' with { type: 'json' };

// Where jobs run. The sites file (schema/sites.schema.json) lives in the state directory; the
// JupyterLab settings plugin `jupyterlab-nexus:sites` replaces it through PUT /jobs/sites.

export type SchedulerKind = 'local' | 'slurm' | 'pbs';

export interface QueueConfig {
  name: string;
  kind: 'partition' | 'qos' | 'queue';
  partition?: string;
  minNodes?: number;
  maxNodes?: number;
  maxDurationSeconds?: number;
  maxQueued?: number;
  accessGranted: boolean;
  requireAccount: boolean;
  filesystems?: string;
}

export interface SiteConfig {
  name: string;
  description?: string;
  scheduler: SchedulerKind;
  pollIntervalSeconds: number;
  concurrency?: number;
  defaultAccount?: string;
  defaultQueue?: string;
  setup: string[];
  fallback?: string;
  queues: QueueConfig[];
  /** file access over SSH (server/remote/); jobs still run through `scheduler` */
  ssh?: SshConfig;
}

export interface SshConfig {
  host: string;
  port: number;
  user: string;
  identityFile?: string;
  knownHosts?: string;
  node: string;
  server: string;
  roots: string[];
}

export interface SitesFile {
  sites: SiteConfig[];
}

/** The embedded default: the login node itself. */
export const DEFAULT_SITES: SitesFile = {
  sites: [
    {
      name: 'local',
      description: 'this machine (login node)',
      scheduler: 'local',
      pollIntervalSeconds: 1,
      concurrency: os.cpus().length,
      setup: [],
      queues: []
    }
  ]
};

const ajv = new Ajv({ allErrors: true, useDefaults: true });
const validateSchema = ajv.compile<SitesFile>(sitesSchema);

export class SitesError extends Error {}

/** Validates (filling in defaults) and returns the sites, or throws SitesError with every problem. */
export function parseSites(value: unknown): SitesFile {
  const copy: unknown = structuredClone(value);
  if (!validateSchema(copy)) {
    const problems = (validateSchema.errors ?? []).map(
      e => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`
    );
    throw new SitesError(`invalid sites: ${problems.join('; ')}`);
  }
  const names = new Set<string>();
  for (const site of copy.sites) {
    if (names.has(site.name)) {
      throw new SitesError(`invalid sites: site ${site.name} is defined twice`);
    }
    names.add(site.name);
  }
  for (const site of copy.sites) {
    if (site.fallback !== undefined && (!names.has(site.fallback) || site.fallback === site.name)) {
      throw new SitesError(
        `invalid sites: fallback of ${site.name} must name another site, not ${site.fallback}`
      );
    }
  }
  return copy;
}

/** The queue a job goes to at a site: its own choice or the site's default. */
export function queueOf(spec: JobSpec, site: SiteConfig): QueueConfig | undefined {
  const name = spec.attributes?.queue ?? site.defaultQueue;
  return name === undefined ? undefined : site.queues.find(q => q.name === name);
}

/**
 * Why the site would refuse the job, checked before submitting (scheduler reference §6: the
 * scheduler may accept an over-limit job and leave it pending forever). Adapters' `validate`
 * starts from this; the queue occupancy check needs the job table, see `queueLimitProblem`.
 */
export function siteProblems(spec: JobSpec, site: SiteConfig): string[] {
  const problems: string[] = [];
  const queueName = spec.attributes?.queue ?? site.defaultQueue;
  const queue = queueOf(spec, site);
  if (queueName !== undefined && site.queues.length > 0 && !queue) {
    problems.push(`queue ${queueName} is not configured for site ${site.name}`);
  }
  if (site.scheduler === 'local' && (spec.resources?.nodes ?? 1) > 1) {
    problems.push(`site ${site.name} runs jobs on one node only`);
  }
  if (!queue) {
    return problems;
  }
  const where = `queue ${queue.name} of site ${site.name}`;
  if (!queue.accessGranted) {
    problems.push(`no access to ${where}: it is by request only`);
  }
  const nodes = spec.resources?.nodes ?? 1;
  if (queue.maxNodes !== undefined && nodes > queue.maxNodes) {
    problems.push(`${nodes} nodes exceed the limit of ${where} (${queue.maxNodes})`);
  }
  if (queue.minNodes !== undefined && nodes < queue.minNodes) {
    problems.push(`${nodes} nodes are below the minimum of ${where} (${queue.minNodes})`);
  }
  const duration = spec.attributes?.durationSeconds;
  if (queue.maxDurationSeconds !== undefined) {
    if (duration === undefined) {
      problems.push(`${where} requires a duration (at most ${queue.maxDurationSeconds} s)`);
    } else if (duration > queue.maxDurationSeconds) {
      problems.push(
        `duration ${duration} s exceeds the time limit of ${where} (${queue.maxDurationSeconds} s)`
      );
    }
  }
  if (queue.requireAccount && !(spec.attributes?.account ?? site.defaultAccount)) {
    problems.push(`${where} requires an account`);
  }
  return problems;
}

/**
 * The queue's `maxQueued` limit (e.g. 100 per project on Polaris demand), given how many of our
 * jobs (array tasks count one each) are already queued or running in it.
 */
export function queueLimitProblem(
  spec: JobSpec,
  site: SiteConfig,
  queuedNow: number
): string | undefined {
  const queue = queueOf(spec, site);
  if (queue?.maxQueued === undefined || queuedNow + (spec.arrayTasks ?? 1) <= queue.maxQueued) {
    return undefined;
  }
  return `queue ${queue.name} of site ${site.name} allows at most ${queue.maxQueued} queued or running jobs; ${queuedNow} already are`;
}

/** The current sites, persisted in `<stateDir>/sites.json`; emits 'change' after a replace. */
export class Sites extends EventEmitter {
  private current: SitesFile;

  constructor(private readonly file: string) {
    super();
    this.current = DEFAULT_SITES;
    if (fs.existsSync(file)) {
      try {
        this.current = parseSites(JSON.parse(fs.readFileSync(file, 'utf8')));
      } catch (err) {
        // A broken file must not stop the server: the settings plugin sends a fresh copy anyway.
        process.stderr.write(
          `nexus-server: ignoring ${file}: ${err instanceof Error ? err.message : String(err)}\n`
        );
      }
    }
  }

  get value(): SitesFile {
    return this.current;
  }

  get(name: string): SiteConfig | undefined {
    return this.current.sites.find(s => s.name === name);
  }

  replace(value: unknown): SitesFile {
    const parsed = parseSites(value);
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    fs.writeFileSync(tmp, JSON.stringify(parsed, null, 2));
    fs.renameSync(tmp, this.file);
    this.current = parsed;
    this.emit('change', parsed);
    return parsed;
  }
}
