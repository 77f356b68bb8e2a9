// Raw detector frames of a scan: which files (a scan folder's *.tif/*.tiff/*.cbf, or a glob
// pattern), in name order, and their pixels as a typed array of the file's own sample type.
import fs from 'node:fs';
import path from 'node:path';
import { fromArrayBuffer } from 'geotiff';
import { glob } from 'tinyglobby';
import { InputError } from '../../transform/input-error.js';
import type { PixelArray } from '../../transform/native.js';
import { decodeCbf } from './cbf.js';

export interface Frame {
  rows: number;
  cols: number;
  data: PixelArray;
}

export const FRAME_EXTENSIONS = ['.tif', '.tiff', '.cbf'];

export function isFrameFile(name: string): boolean {
  return FRAME_EXTENSIONS.includes(path.extname(name).toLowerCase());
}

const byName = new Intl.Collator('en', { numeric: true }).compare;

/** Frame files in name order (numeric-aware, so frame_9 precedes frame_10). */
export async function frameFiles(scanDir: string, pattern?: string): Promise<string[]> {
  const files = pattern
    ? await glob(pattern, { cwd: scanDir, absolute: true, onlyFiles: true })
    : fs.existsSync(scanDir)
      ? fs
          .readdirSync(scanDir)
          .filter(isFrameFile)
          .map(name => path.join(scanDir, name))
      : [];
  const frames = files.filter(isFrameFile);
  if (frames.length === 0) {
    throw new InputError(
      pattern
        ? `no frame files (${FRAME_EXTENSIONS.join(', ')}) match ${pattern}`
        : `no frame files (${FRAME_EXTENSIONS.join(', ')}) in ${scanDir}`
    );
  }
  return frames.sort(byName);
}

async function readTiff(buffer: Buffer, source: string): Promise<Frame> {
  // readFile's buffers are never shared memory
  const arrayBuffer = buffer.buffer.slice(
    buffer.byteOffset,
    buffer.byteOffset + buffer.length
  ) as ArrayBuffer;
  // A truncated file fails anywhere from the header to the last strip: name it in every case.
  const unreadable = (e: unknown) =>
    new InputError(`${source}: not a readable TIFF (${(e as Error).message})`);
  let image;
  let pages;
  try {
    const tiff = await fromArrayBuffer(arrayBuffer);
    pages = await tiff.getImageCount();
    image = await tiff.getImage(0);
  } catch (e) {
    throw unreadable(e);
  }
  if (pages !== 1) {
    throw new InputError(
      `${source}: ${pages} images in one TIFF; the stack takes one frame per file`
    );
  }
  if (image.getSamplesPerPixel() !== 1) {
    throw new InputError(
      `${source}: ${image.getSamplesPerPixel()} samples per pixel; detector frames have one`
    );
  }
  let data: PixelArray;
  try {
    data = (await image.readRasters({ interleave: true })) as unknown as PixelArray;
  } catch (e) {
    throw unreadable(e);
  }
  return { rows: image.getHeight(), cols: image.getWidth(), data };
}

export async function readFrame(file: string): Promise<Frame> {
  let buffer: Buffer;
  try {
    buffer = await fs.promises.readFile(file);
  } catch (e) {
    throw new InputError(`cannot read frame ${file}: ${(e as Error).message}`);
  }
  return path.extname(file).toLowerCase() === '.cbf'
    ? decodeCbf(buffer, file)
    : readTiff(buffer, file);
}
