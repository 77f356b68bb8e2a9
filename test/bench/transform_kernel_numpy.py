"""Baseline of test/bench/transform_kernel_bench.ts: the kernel's binning, vectorized with numpy.

    .venv/bin/python test/bench/transform_kernel_numpy.py DIR FRAMES PIXELS N0 N1 N2

Reads DIR/q.f64 (3 per pixel), DIR/maps.f64 (12 per frame: A row-major, then b) and
DIR/frames.i32, bins every frame twice (np.add.at, and np.bincount over the whole grid) and
prints JSON: wall and CPU seconds of each variant and checksums of the grid for comparison with the kernel.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def voxels_of_frame(frame, q, m, dims):
    """Linear voxel index and value of every sample of one frame that lands in the grid."""
    a, b = m[:9].reshape(3, 3), m[9:]
    # same operation order as the kernel, so the same samples land in the same voxels
    u = [a[r, 0] * q[:, 0] + a[r, 1] * q[:, 1] + a[r, 2] * q[:, 2] + b[r] for r in range(3)]
    ok = frame >= 0
    for axis in range(3):
        ok &= (u[axis] >= 0) & (u[axis] < dims[axis])
    i, j, k = (np.floor(u[axis][ok]).astype(np.int64) for axis in range(3))
    return (k * dims[1] + j) * dims[0] + i, frame[ok].astype(np.float64)


def bin_add_at(frames, q, maps, dims):
    v = np.zeros(dims[0] * dims[1] * dims[2])
    n = np.zeros_like(v)
    for f, frame in enumerate(frames):
        idx, values = voxels_of_frame(frame, q, maps[f], dims)
        np.add.at(v, idx, values)
        np.add.at(n, idx, 1.0)
    return v, n


def bin_bincount(frames, q, maps, dims):
    size = dims[0] * dims[1] * dims[2]
    v = np.zeros(size)
    n = np.zeros_like(v)
    for f, frame in enumerate(frames):
        idx, values = voxels_of_frame(frame, q, maps[f], dims)
        v += np.bincount(idx, weights=values, minlength=size)
        n += np.bincount(idx, minlength=size)
    return v, n


def checksums(v, n):
    """Exact for integer counts: sums of integers below 2^53."""
    weight = np.arange(v.size) % 1000
    return {"v": float(v.sum()), "n": float(n.sum()), "nWeighted": float((n * weight).sum())}


def main() -> None:
    folder = Path(sys.argv[1])
    frame_count, pixels, *dims = (int(a) for a in sys.argv[2:7])
    q = np.fromfile(folder / "q.f64").reshape(pixels, 3)
    maps = np.fromfile(folder / "maps.f64").reshape(frame_count, 12)
    frames = np.fromfile(folder / "frames.i32", dtype=np.int32).reshape(frame_count, pixels)
    result = {}
    for name, binner in (("addAt", bin_add_at), ("bincount", bin_bincount)):
        start, cpu_start = time.perf_counter(), time.process_time()
        v, n = binner(frames, q, maps, dims)
        result[name] = {
            "seconds": time.perf_counter() - start,
            "cpuSeconds": time.process_time() - cpu_start,
            **checksums(v, n),
        }
        del v, n
    print(json.dumps(result))


if __name__ == "__main__":
    main()
