// max: one pass over the raw stack → nexus/max.nxs with entry/maximum (the pixel-wise maximum
// over all frames, 2-D) and entry/summed (the sum of each frame, 1-D), as NXRefine's max step.
import { initHdf5 } from '../../transform/hdf5-access.js';
import { ensureGroup } from '../../transform/nexus-output.js';
import { RawStack } from '../../transform/raw-stack.js';
import { progress, writeNexusFile, writeProcess } from './output.js';
import { requireInput, scanPaths } from './scan.js';

export const RAW_DATA = '/entry/data/data';

export async function maxAndSums(scanDir: string, command: string): Promise<void> {
  const paths = scanPaths(scanDir);
  requireInput(paths.raw, 'stack');
  await initHdf5();
  const stack = new RawStack({ file: paths.raw, path: RAW_DATA });
  const maximum = new Float64Array(stack.rows * stack.cols).fill(-Infinity);
  const sums = new Float64Array(stack.frames);
  let overall = -Infinity;
  try {
    for (let z = 0; z < stack.frames; z++) {
      const frame = stack.read(z, 1);
      let sum = 0;
      for (let p = 0; p < frame.length; p++) {
        const v = Number(frame[p]);
        sum += v;
        if (v > maximum[p]) {
          maximum[p] = v;
          overall = Math.max(overall, v);
        }
      }
      sums[z] = sum;
      if ((z + 1) % 100 === 0) {
        progress('max', `${z + 1}/${stack.frames} frames`);
      }
    }
  } finally {
    stack.close();
  }
  await writeNexusFile(paths.max, entry => {
    entry.create_attribute('default', 'maximum');
    const max = ensureGroup(entry, 'maximum', 'NXdata');
    max.create_dataset({ name: 'data', data: maximum, shape: [stack.rows, stack.cols] });
    max.create_attribute('signal', 'data');
    max.create_attribute('maximum', overall);
    const summed = ensureGroup(entry, 'summed', 'NXdata');
    summed.create_dataset({ name: 'data', data: sums });
    summed.create_dataset({
      name: 'frame_number',
      data: Int32Array.from({ length: stack.frames }, (_, i) => i)
    });
    summed.create_attribute('signal', 'data');
    summed.create_attribute('axes', 'frame_number');
    writeProcess(entry, {
      step: 'max',
      command,
      parameters: {},
      inputs: [`${paths.raw}#${RAW_DATA}`]
    });
  });
  progress('max', `maximum ${overall} over ${stack.frames} frames`);
}
