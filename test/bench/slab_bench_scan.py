"""Pilatus-2M-size rotation scan for bench:slabs: the demo's geometry and file layout (gzip with
shuffle, one chunk per frame), written fast. Rendering one 1679 x 1475 frame takes seconds, so
only DISTINCT frames are rendered (spread over the rotation), compressed once, and frame z gets
the chunk of rendered frame z mod DISTINCT through write_direct_chunk. The frames are therefore
not physically consistent with the rotation (timing only: same sizes, compression and pixel
statistics as real renders); correctness is tested on fully rendered scans.

Usage: python slab_bench_scan.py OUTPUT.nxs FRAMES [DISTINCT]
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import h5py
import numpy as np

from jupyterlab_nexus.demo import ScanGeometry, render_frames, write_scan

ROWS, COLS = 1679, 1475


def shuffled_gzip(frame: np.ndarray) -> bytes:
    """HDF5's shuffle filter (bytes grouped by significance) then deflate level 4, as h5py writes."""
    return zlib.compress(frame.view(np.uint8).reshape(-1, frame.itemsize).T.tobytes(), 4)


def main() -> None:
    output, frames = Path(sys.argv[1]), int(sys.argv[2])
    distinct = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    geometry = ScanGeometry(frames=frames, shape=(ROWS, COLS), beam_center=(COLS / 2, ROWS / 2))
    write_scan(output, geometry, [])  # metadata and an empty chunked stack
    spacing = frames // distinct
    sparse = ScanGeometry(
        frames=distinct, shape=(ROWS, COLS), beam_center=(COLS / 2, ROWS / 2), phi_step=geometry.phi_step * spacing
    )
    chunks = [shuffled_gzip(frame) for frame in render_frames(sparse)]
    with h5py.File(output, "a") as f:
        stack = f["entry/data/data"]
        for z in range(frames):
            stack.id.write_direct_chunk((z, 0, 0), chunks[z % distinct])


if __name__ == "__main__":
    main()
