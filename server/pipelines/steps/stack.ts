// stack: raw frames → nexus/raw.nxs, entry/data/data (frames, rows, cols) in the frames' own
// sample type, one gzip chunk per frame, written frame by frame (a scan never sits in memory),
// with the geometry of scan.json in NXRefine's layout and the lattice in entry/sample.
import fs from 'node:fs';
import { Dataset, Group } from 'h5wasm/node';
import { initHdf5 } from '../../transform/hdf5-access.js';
import { InputError } from '../../transform/input-error.js';
import { ensureGroup } from '../../transform/nexus-output.js';
import { frameFiles, readFrame, type Frame } from './frames.js';
import { progress, writeNexusFile, writeProcess } from './output.js';
import { loadScanSettings, scanPaths } from './scan.js';
import { writeScanSettings } from './settings-nexus.js';

export interface StackOptions {
  /** glob pattern (relative to the scan folder or absolute); default: the scan folder's frames */
  frames?: string;
  /** gzip level 0–9 */
  compression: number;
}

function axis(group: Group, name: string, length: number): void {
  group.create_dataset({ name, data: Int32Array.from({ length }, (_, i) => i) });
}

export async function stack(
  scanDir: string,
  options: StackOptions,
  command: string
): Promise<void> {
  const paths = scanPaths(scanDir);
  const files = await frameFiles(paths.scan, options.frames);
  const settings = fs.existsSync(paths.settings) ? loadScanSettings(paths.settings) : undefined;
  if (!settings) {
    progress('stack', `no ${paths.settings}: the stack gets no geometry`);
  }
  await initHdf5();
  await writeNexusFile(paths.raw, async entry => {
    entry.create_attribute('default', 'data');
    const data = ensureGroup(entry, 'data', 'NXdata');
    let first: Frame | undefined;
    let stackData: Dataset | undefined;
    for (const [z, file] of files.entries()) {
      const frame = await readFrame(file);
      if (!first || !stackData) {
        first = frame;
        stackData = data.create_dataset({
          name: 'data',
          data: frame.data,
          shape: [1, frame.rows, frame.cols],
          maxshape: [files.length, frame.rows, frame.cols],
          chunks: [1, frame.rows, frame.cols],
          ...(options.compression > 0
            ? { compression: 'gzip' as const, compression_opts: options.compression }
            : {})
        });
        stackData.resize([files.length, frame.rows, frame.cols]);
      } else {
        if (frame.rows !== first.rows || frame.cols !== first.cols) {
          throw new InputError(
            `${file} is ${frame.cols}×${frame.rows} pixels but ${files[0]} is ${first.cols}×${first.rows}`
          );
        }
        if (frame.data.constructor !== first.data.constructor) {
          throw new InputError(
            `${file} holds ${frame.data.constructor.name} pixels but ${files[0]} holds ${first.data.constructor.name}`
          );
        }
        stackData.write_slice([[z, z + 1]], frame.data);
      }
      if ((z + 1) % 50 === 0 || z + 1 === files.length) {
        progress('stack', `${z + 1}/${files.length} frames`);
      }
    }
    const [rows, cols] = [first!.rows, first!.cols];
    data.create_attribute('signal', 'data');
    data.create_attribute('axes', ['frame_number', 'y_pixel', 'x_pixel']);
    axis(data, 'frame_number', files.length);
    axis(data, 'y_pixel', rows);
    axis(data, 'x_pixel', cols);
    if (settings) {
      writeScanSettings(entry, settings);
    }
    writeProcess(entry, {
      step: 'stack',
      command,
      parameters: { ...options, frames: options.frames ?? null, count: files.length },
      inputs: [...files, ...(settings ? [paths.settings] : [])]
    });
  });
}
