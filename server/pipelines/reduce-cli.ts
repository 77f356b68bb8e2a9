// `nexus-reduce <step> --scan <scanDir> [--<param> <value> ...]`: the built-in reduction steps
// of the pipeline (server/pipelines/nxrefine.pipeline.json). Each step reads the scan folder and
// earlier steps' outputs in <scan>/nexus/ and writes its own file there. Exit codes: 0 done,
// 2 refused input (missing input, bad parameter; one line on stderr), 1 anything else.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { InputError } from '../transform/input-error.js';
import { PROGRAM } from './steps/output.js';
import { findPeaks } from './steps/find.js';
import { LATTICE_SYSTEMS, type LatticeSystem } from './steps/cell-symmetry.js';
import { combine } from './steps/combine.js';
import { maxAndSums } from './steps/max.js';
import { prepare, type PrepareOptions, type Range } from './steps/prepare.js';
import { defaultThreads, transformPart } from './steps/transform-part.js';
import { refine } from './steps/refine.js';
import { stack } from './steps/stack.js';

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(Number.isFinite(n) && n > 0)) {
    throw new InvalidArgumentError('expected a number > 0');
  }
  return n;
}

function integerIn(min: number, max: number): (value: string) => number {
  return value => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

const command = [PROGRAM, ...process.argv.slice(2)].join(' ');
const program = new Command(PROGRAM)
  .description('The built-in reduction steps of a single-crystal rotation scan.')
  .version(pkg.version)
  .exitOverride()
  .configureOutput({
    // commander's usage errors as one line, like every other refusal
    writeErr: text => process.stderr.write(text.split('\n')[0] + '\n')
  });

program
  .command('stack')
  .description('raw frames (TIFF, CBF) → nexus/raw.nxs, a chunked, compressed 3-D stack')
  .requiredOption('--scan <dir>', 'scan folder')
  .option(
    '--frames <pattern>',
    'glob pattern of the frame files (relative to the scan folder or absolute); default: *.tif, *.tiff, *.cbf of the scan folder'
  )
  .option('--compression <level>', 'gzip level, 0 = none', integerIn(0, 9), 4)
  .action(async (o: { scan: string; frames?: string; compression: number }) => {
    await stack(o.scan, { frames: o.frames, compression: o.compression }, command);
  });

program
  .command('max')
  .description('maximum over frames (entry/maximum) and frame sums (entry/summed) → nexus/max.nxs')
  .requiredOption('--scan <dir>', 'scan folder')
  .action(async (o: { scan: string }) => {
    await maxAndSums(o.scan, command);
  });

program
  .command('find')
  .description('3-D peak search → nexus/peaks.nxs (x, y, z = frame, intensity)')
  .requiredOption('--scan <dir>', 'scan folder')
  .option(
    '--threshold <counts>',
    'minimum counts of a peak voxel; default: a tenth of the maximum in max.nxs',
    positiveNumber
  )
  .option(
    '--min-separation <voxels>',
    'minimum distance between peaks (pixels and frames)',
    positiveNumber,
    3
  )
  .option('--box <pixels>', 'half-width of the centroid box in pixels', integerIn(1, 50), 5)
  .option('--box-frames <frames>', 'half-width of the centroid box in frames', integerIn(1, 50), 10)
  .action(
    async (o: {
      scan: string;
      threshold?: number;
      minSeparation: number;
      box: number;
      boxFrames: number;
    }) => {
      const { threshold, minSeparation, box, boxFrames } = o;
      await findPeaks(o.scan, { threshold, minSeparation, box, boxFrames }, command);
    }
  );

program
  .command('refine')
  .description(
    'UB and lattice by least squares against the peaks, from scan.json → nexus/refine.nxs, nexus/geometry.json'
  )
  .requiredOption('--scan <dir>', 'scan folder')
  .option('--tolerance <hkl>', 'largest |h − round(h)| of an indexed peak', positiveNumber, 0.15)
  .option('--iterations <n>', 'most index-and-fit rounds', integerIn(1, 1000), 20)
  .addOption(
    new Option('--symmetry <system>', "lattice system the refined cell keeps; 'auto': scan.json's")
      .choices(['auto', ...LATTICE_SYSTEMS])
      .default('auto')
  )
  .action(
    async (o: {
      scan: string;
      tolerance: number;
      iterations: number;
      symmetry: LatticeSystem | 'auto';
    }) => {
      await refine(
        o.scan,
        { tolerance: o.tolerance, iterations: o.iterations, symmetry: o.symmetry },
        command
      );
    }
  );

function range(value: string): Range {
  const match = /^\s*(-?\d+)\s*:\s*(-?\d+)\s*$/.exec(value);
  const [lo, hi] = match ? [Number(match[1]), Number(match[2])] : [NaN, NaN];
  if (!(lo < hi)) {
    throw new InvalidArgumentError('expected whole numbers MIN:MAX with MIN < MAX, e.g. -4:4');
  }
  return [lo, hi];
}

program
  .command('prepare')
  .description('the HKL grid and the pixel mask of the transform → nexus/prepare.json')
  .requiredOption('--scan <dir>', 'scan folder')
  .option('--h <min:max>', 'H range (whole numbers); default: what the scan sweeps', range)
  .option('--k <min:max>', 'K range; default: what the scan sweeps', range)
  .option('--l <min:max>', 'L range; default: what the scan sweeps', range)
  .option('--step <rlu>', 'voxel edge in r.l.u., rounded to 1/n', positiveNumber, 0.05)
  .addOption(
    new Option('--mask <rule>', "'auto': pixels negative in the first frame (Pilatus gaps)")
      .choices(['auto', 'none'])
      .default('auto')
  )
  .option('--max-voxels <n>', 'refuse larger grids', positiveNumber, 64e6)
  .action(async (o: { scan: string } & PrepareOptions) => {
    const { h, k, l, step, mask, maxVoxels } = o;
    await prepare(o.scan, { h, k, l, step, mask, maxVoxels }, command);
  });

program
  .command('transform')
  .description(
    'bin part NEXUS_TASK_INDEX of --parts N onto the prepared grid → nexus/transform-part-<i>-of-<N>.nxs'
  )
  .requiredOption('--scan <dir>', 'scan folder')
  .option('--parts <N>', 'number of parts (array tasks)', integerIn(1, 100000), 1)
  .option('--threads <T>', 'binning threads', integerIn(1, 1024), defaultThreads)
  .action(async (o: { scan: string; parts: number; threads: number }) => {
    await transformPart(o.scan, { parts: o.parts, threads: o.threads }, command);
  });

program
  .command('combine')
  .description('merge the transform parts and normalise → nexus/transform.nxs')
  .requiredOption('--scan <dir>', 'scan folder')
  .option('--parts <N>', 'number of parts; default: the parts present', integerIn(1, 100000))
  .action(async (o: { scan: string; parts?: number }) => {
    await combine(o.scan, { parts: o.parts }, command);
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // help and version exit 0; usage errors were already printed by commander
    process.exit(e.exitCode === 0 ? 0 : 2);
  }
  const message = (e as Error).message ?? String(e);
  process.stderr.write(`${PROGRAM}: ${message.split('\n')[0]}\n`);
  process.exit(e instanceof InputError ? 2 : 1);
}
