// The slabs a server is computing or has computed: started by POST /slabs, read by long-polling
// GET /slabs/:id, cancelled by DELETE. A bounded number is kept; the oldest are dropped (and
// cancelled if still running). Raw scans share one frame reader and cache.
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import fs from 'node:fs';
import path from 'node:path';
import type { SlabInfo, SlabRequest, SlabSnapshot } from '../../src/protocol/slabs.js';
import type { ResolvedFile, Roots } from '../files/roots.js';
import type { WorkerPool } from '../hdf5/pool.js';
import { HttpError } from '../http/errors.js';
import { pixelScatteringVectors } from '../transform/forward.js';
import type { Grid } from '../transform/grid.js';
import { TransformWriter } from '../transform/nexus-output.js';
import { FrameCache } from './frame-cache.js';
import { FrameReader } from './frame-reader.js';
import { axisLabel, planeVectors, slabAxes, slabGrid } from './plane.js';
import { slabCode } from './slab-code.js';
import { SlabJob } from './slab-job.js';
import { resolveSource, type ResolvedSource } from './source.js';
import { cutVolume } from './volume-cut.js';

const KEPT_SLABS = 16;
/** Detectors whose pixel q table is kept (60 MB for a Pilatus 2M). */
const KEPT_Q_TABLES = 2;

export interface SlabEntry {
  info: SlabInfo;
  request: SlabRequest;
  file: ResolvedFile;
  source: Exclude<ResolvedSource, { kind: null }>;
  grid: Grid;
  /** raw scans */
  job?: SlabJob;
  /** volume cuts, computed at once */
  cut?: { v: Float64Array; n: Float64Array };
}

export interface SlabServiceOptions {
  pool: WorkerPool;
  roots: Roots;
  /** bytes of decompressed frames kept across requests */
  cacheBytes: number;
  /** kernel threads; all cores by default */
  threads?: number;
}

export class SlabService {
  readonly reader: FrameReader;
  readonly cache: FrameCache;
  private readonly slabs = new Map<string, SlabEntry>();
  private readonly qTables = new LRUCache<string, Float64Array>({ max: KEPT_Q_TABLES });

  constructor(private readonly options: SlabServiceOptions) {
    this.cache = new FrameCache(options.cacheBytes);
    this.reader = new FrameReader(options.pool, this.cache);
  }

  async source(file: string | undefined): Promise<ResolvedSource> {
    return resolveSource(await this.options.roots.resolve(file));
  }

  async start(request: SlabRequest): Promise<SlabInfo> {
    const file = await this.options.roots.resolve(request.file);
    const source = await resolveSource(file);
    if (source.kind === null) {
      throw new HttpError(422, `${request.file}: ${source.reason}`);
    }
    const grid = slabGrid(request);
    const id = randomUUID();
    const { u, v } = planeVectors(request.plane);
    const info: SlabInfo = {
      id,
      kind: source.kind,
      grid: grid as SlabInfo['grid'],
      axes: slabAxes(request),
      labels: { u: axisLabel(u), v: axisLabel(v) }
    };
    const entry: SlabEntry = { info, request, file, source, grid };
    if (source.kind === 'raw') {
      const description = await this.reader.describe(file, source.path);
      const [, rows, cols] = description.shape!;
      const qKey = JSON.stringify([source.geometry, rows, cols]);
      let q = this.qTables.get(qKey);
      if (!q) {
        q = pixelScatteringVectors(source.geometry, rows, cols);
        this.qTables.set(qKey, q);
      }
      entry.job = new SlabJob({
        q,
        id,
        file,
        dataset: source.path,
        description,
        geometry: source.geometry,
        grid,
        reader: this.reader,
        threads: this.options.threads
      });
    } else {
      entry.cut = await cutVolume(this.options.pool, file, source.path, grid);
    }
    this.keep(entry);
    return info;
  }

  private keep(entry: SlabEntry): void {
    this.slabs.set(entry.info.id, entry);
    for (const [id, old] of this.slabs) {
      if (this.slabs.size <= KEPT_SLABS) {
        break;
      }
      old.job?.cancel();
      this.slabs.delete(id);
    }
  }

  get(id: string): SlabEntry {
    const entry = this.slabs.get(id);
    if (!entry) {
      throw new HttpError(404, `unknown slab ${id}`);
    }
    return entry;
  }

  /** The latest result, once it is newer than `after` or the slab has settled (or on timeout). */
  async snapshot(
    id: string,
    after: number,
    timeoutMs: number
  ): Promise<{ header: SlabSnapshot; v: Float32Array; n: Float32Array }> {
    const entry = this.get(id);
    const { job, cut } = entry;
    if (!job) {
      return {
        header: { id, seq: 1, state: 'done', framesDone: 0, framesTotal: 0, complete: true },
        v: Float32Array.from(cut!.v),
        n: Float32Array.from(cut!.n)
      };
    }
    if (job.seq <= after && job.state === 'running') {
      await new Promise<void>(resolve => {
        const timer = setTimeout(done, timeoutMs);
        function done(): void {
          clearTimeout(timer);
          job!.off('update', done);
          resolve();
        }
        job.on('update', done);
      });
    }
    return job.snapshot();
  }

  cancel(id: string): SlabSnapshot {
    const entry = this.get(id);
    entry.job?.cancel();
    return this.snapshotHeader(entry);
  }

  private snapshotHeader(entry: SlabEntry): SlabSnapshot {
    return entry.job
      ? entry.job.snapshot().header
      : { id: entry.info.id, seq: 1, state: 'done', framesDone: 0, framesTotal: 0, complete: true };
  }

  /** Writes the finished slab next to its source as a new NeXus file; returns the file's name. */
  save(id: string, command: string): string {
    const entry = this.get(id);
    const result = entry.job ?? entry.cut!;
    if (entry.job && !entry.job.complete) {
      throw new HttpError(409, 'the slab is not finished yet');
    }
    const folder = path.dirname(entry.file.realPath);
    const stem = path.basename(entry.file.realPath).replace(/\.[^.]*$/, '');
    let name = `${stem}_slab.nxs`;
    for (let i = 2; fs.existsSync(path.join(folder, name)); i++) {
      name = `${stem}_slab_${i}.nxs`;
    }
    const writer = new TransformWriter(
      { file: path.join(folder, name), path: '/entry/slab' },
      entry.grid
    );
    try {
      writer.writeVolume(result.v, result.n);
      writer.finish({
        command,
        parameters: {
          operation: entry.source.kind === 'raw' ? 'slab' : 'cut (trilinear interpolation of v/n)',
          source: `${entry.file.realPath}#${entry.source.path}`,
          request: entry.request
        },
        geometry: entry.source.kind === 'raw' ? entry.source.geometry : undefined
      });
    } finally {
      writer.close();
    }
    return name;
  }

  code(id: string): string {
    return slabCode(this.get(id));
  }

  close(): void {
    for (const entry of this.slabs.values()) {
      entry.job?.cancel();
    }
  }
}
