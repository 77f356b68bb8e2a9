// `nexus-transform`: the batch pixel → HKL transform (see --help). Exit codes: 0 done,
// 2 refused input (bad geometry, grid, paths…, with a one-line message), 1 anything else.
import os from 'node:os';
import { text } from 'node:stream/consumers';
import { SingleBar } from 'cli-progress';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { hklOfPixel } from './forward.js';
import { readGeometryNexus } from './geometry-nexus.js';
import { loadGeometryJson, type Geometry } from './geometry.js';
import { parseGrid } from './grid.js';
import { initHdf5, openForReading, parseH5Url } from './hdf5-access.js';
import { InputError } from './input-error.js';
import { reflectionsOf } from './inverse.js';
import type { Vec3 } from './matrix.js';
import { mergeTransforms } from './merge.js';
import { PROGRAM } from './nexus-output.js';
import { runTransform } from './transform.js';

function parseSubset(value: string): { index: number; count: number } {
  const match = /^(\d+)\/(\d+)$/.exec(value);
  const [index, count] = match ? [Number(match[1]), Number(match[2])] : [NaN, NaN];
  if (!(count >= 1 && index < count)) {
    throw new InvalidArgumentError('expected i/N with 0 ≤ i < N, e.g. 0/4');
  }
  return { index, count };
}

function parsePositiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError('expected a whole number ≥ 1');
  }
  return n;
}

async function geometryFrom(options: { geometry?: string; raw?: string }): Promise<Geometry> {
  if (options.geometry) {
    return loadGeometryJson(options.geometry);
  }
  if (!options.raw) {
    throw new InputError('give --geometry GEOM.json or --raw FILE#/entry/...');
  }
  await initHdf5();
  const url = parseH5Url(options.raw, '--raw');
  const file = openForReading(url.file);
  try {
    return readGeometryNexus(file, `/${url.path.split('/').filter(Boolean)[0] ?? ''}`, url.file);
  } finally {
    file.close();
  }
}

async function stdinTriples(what: string): Promise<Vec3[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await text(process.stdin));
  } catch (e) {
    throw new InputError(`stdin must be a JSON array of ${what}: ${(e as Error).message}`);
  }
  if (
    !Array.isArray(parsed) ||
    !parsed.every(t => Array.isArray(t) && t.length === 3 && t.every(Number.isFinite))
  ) {
    throw new InputError(`stdin must be a JSON array of ${what}`);
  }
  return parsed as Vec3[];
}

function progressBar(): {
  onStart: (total: number) => void;
  onProgress: (done: number) => void;
  stop: () => void;
} {
  if (!process.stderr.isTTY) {
    return { onStart: () => undefined, onProgress: () => undefined, stop: () => undefined };
  }
  const bar = new SingleBar({
    stream: process.stderr,
    format: 'transform [{bar}] {percentage}% | {value}/{total} frames | eta {eta_formatted}'
  });
  return {
    onStart: total => bar.start(total, 0),
    onProgress: done => bar.update(done),
    stop: () => bar.stop()
  };
}

const command = [PROGRAM, ...process.argv.slice(2)].join(' ');
const program = new Command(PROGRAM)
  .description(
    'Transforms a single-crystal rotation scan into a reciprocal-space (H, K, L) grid, and merges parts.'
  )
  .version(pkg.version)
  .exitOverride();

program
  .command('transform', { isDefault: true })
  .description('bin every pixel of every frame into its (H, K, L) voxel (the default command)')
  .argument('<raw>', 'raw stack FILE#/entry/data/data, shaped (frames, rows, cols)')
  .requiredOption(
    '--grid <spec>',
    'H0:H1:NH,K0:K1:NK,L0:L1:NL (voxel i covers [H0 + i·dH, H0 + (i+1)·dH), dH = (H1−H0)/NH), or a grid .json file (schema/grid.schema.json)'
  )
  .requiredOption('--output <group>', 'OUT.nxs#/entry/transform: the NXdata group to create')
  .option(
    '--geometry <json>',
    "GEOM.json (schema/geometry.schema.json); default: the geometry stored in the raw file's entry"
  )
  .option('--mask <dataset>', 'FILE#PATH of a (rows, cols) pixel mask, non-zero = bad pixel')
  .option(
    '--weights <dataset>',
    'FILE#PATH of per-frame weights (monitor); frames with weight ≤ 0 are skipped'
  )
  .option(
    '--subset <i/N>',
    'process only part i of N contiguous parts of the frames (0 ≤ i < N); merge the parts afterwards',
    parseSubset,
    { index: 0, count: 1 }
  )
  .option(
    '--threads <T>',
    'threads that decompress frames, and threads that bin them (T each)',
    parsePositiveInteger,
    os.availableParallelism()
  )
  .option('--timings', 'print where the time went (JSON, seconds) on stderr')
  .action(
    async (
      raw: string,
      o: {
        grid: string;
        output: string;
        geometry?: string;
        mask?: string;
        weights?: string;
        subset: { index: number; count: number };
        threads: number;
        timings?: boolean;
      }
    ) => {
      const bar = progressBar();
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      try {
        const timings = await runTransform({
          raw: parseH5Url(raw, 'raw data'),
          geometryFile: o.geometry,
          grid: parseGrid(o.grid),
          output: parseH5Url(o.output, '--output'),
          mask: o.mask ? parseH5Url(o.mask, '--mask') : undefined,
          weights: o.weights ? parseH5Url(o.weights, '--weights') : undefined,
          subset: o.subset,
          threads: o.threads,
          command,
          signal: abort.signal,
          ...bar
        });
        if (o.timings) {
          process.stderr.write(`${JSON.stringify({ timings })}\n`);
        }
      } finally {
        bar.stop();
      }
    }
  );

program
  .command('merge')
  .description(
    'sum the v and n of transform parts on one grid and normalise: merge OUT.nxs#/entry/transform PART1.nxs#/entry/transform PART2.nxs#/entry/transform …'
  )
  .argument('<output>', 'the NXdata group to create, in a file that is not one of the parts')
  .argument(
    '<parts...>',
    'transform groups written by nexus-transform (any --subset parts, or several scans on the same grid)'
  )
  .action(async (output: string, parts: string[]) => {
    await mergeTransforms(
      parseH5Url(output, 'merge output'),
      parts.map(p => parseH5Url(p, 'merge part')),
      command
    );
  });

program
  .command('hkl')
  .description(
    'print the (H, K, L) of pixels: stdin is a JSON array of [frame, x, y] (pixel indices; centre at +0.5), stdout the array of [H, K, L]'
  )
  .option('--geometry <json>', 'GEOM.json')
  .option('--raw <dataset>', "read the geometry from this NeXus file's entry instead")
  .action(async (o: { geometry?: string; raw?: string }) => {
    const geometry = await geometryFrom(o);
    const pixels = await stdinTriples('[frame, x, y]');
    process.stdout.write(
      JSON.stringify(pixels.map(([z, x, y]) => hklOfPixel(geometry, z, x, y))) + '\n'
    );
  });

program
  .command('inverse')
  .description(
    'print where reflections are recorded: stdin is a JSON array of [H, K, L], stdout for each an array of {frame, phi, x, y} (closed-form Ewald solution)'
  )
  .option('--geometry <json>', 'GEOM.json')
  .option('--raw <dataset>', "read the geometry from this NeXus file's entry instead")
  .requiredOption('--frames <N>', 'frames in the scan', parsePositiveInteger)
  .requiredOption('--rows <N>', 'detector rows', parsePositiveInteger)
  .requiredOption('--cols <N>', 'detector columns', parsePositiveInteger)
  .action(
    async (o: { geometry?: string; raw?: string; frames: number; rows: number; cols: number }) => {
      const geometry = await geometryFrom(o);
      const hkls = await stdinTriples('[H, K, L]');
      const scan = { frames: o.frames, rows: o.rows, cols: o.cols };
      process.stdout.write(JSON.stringify(hkls.map(h => reflectionsOf(geometry, h, scan))) + '\n');
    }
  );

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // help and version exit 0; usage errors were already printed by commander
    process.exit(e.exitCode === 0 ? 0 : 2);
  }
  if (e instanceof InputError) {
    process.stderr.write(`${PROGRAM}: ${e.message}\n`);
    process.exit(2);
  }
  if (e instanceof DOMException && e.name === 'AbortError') {
    process.stderr.write(`${PROGRAM}: interrupted\n`);
    process.exit(130);
  }
  process.stderr.write(`${PROGRAM}: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
}
