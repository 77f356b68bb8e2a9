import fs from 'node:fs';

// Job logs are read while the job may still be writing them: only the bytes up to the size seen
// now, never the whole file at once (a log can be gigabytes).

/** The bytes of `file` in [start, end). */
export function readRange(file: string, start: number, end: number): Buffer {
  const buffer = Buffer.alloc(end - start);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, buffer, 0, buffer.length, start);
  } finally {
    fs.closeSync(fd);
  }
  return buffer;
}

/** The last `maxBytes` of a file and its size; nothing while the file does not exist (yet). */
export function readLastBytes(
  file: string | undefined,
  maxBytes: number
): { bytes: Buffer; size: number } {
  if (!file || !fs.existsSync(file)) {
    return { bytes: Buffer.alloc(0), size: 0 };
  }
  const size = fs.statSync(file).size;
  return { bytes: readRange(file, Math.max(0, size - maxBytes), size), size };
}
