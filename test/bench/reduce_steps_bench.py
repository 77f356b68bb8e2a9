"""Benchmark: the `nexus-reduce` steps against Python baselines doing the same work, same run.

    npm run bench:reduce [-- --frames 100 --workdir DIR]

Scan: a synthetic crystal as a folder of int32 TIFF frames, Pilatus 300K size (619 x 487),
written by jupyterlab_nexus.demo --tiff-scan. Baselines, on the same files:
- stack (TIFF): tifffile.imread + h5py write, one gzip-4 chunk per frame;
- stack (CBF): the real dxtbx byte-offset CBF repeated FRAMES times, fabio.open + h5py write;
- max: h5py frame-by-frame read + numpy max and sum;
- find: against max, the pass over the same stack without the search (ratio = cost of searching).
refine, prepare, transform (one part) and combine are printed as absolute times.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fabio
import h5py
import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from jupyterlab_nexus.demo import ScanGeometry, write_tiff_scan  # noqa: E402

CLI = ROOT / "jupyterlab_nexus" / "server" / "nexus-reduce.mjs"
CBF = ROOT.parent / "shared" / "testdata" / "real" / "cctbx_dxtbx" / "tests" / "phi_scan_001.cbf"


def cpu_seconds() -> float:
    """CPU time of this process and its finished children: wall times lie on a shared machine."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    fn()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def reduce(*args: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NEXUS_TASK_INDEX"}
    subprocess.run(["node", str(CLI), *args], check=True, capture_output=True, env=env)


def python_stack(files: list[Path], out: Path, read) -> None:
    first = read(files[0])
    with h5py.File(out, "w") as f:
        ds = f.create_dataset(
            "entry/data/data", shape=(len(files), *first.shape), dtype=first.dtype,
            chunks=(1, *first.shape), compression="gzip", compression_opts=4,
        )
        for z, path in enumerate(files):
            ds[z] = read(path)


def numpy_max(raw: Path) -> None:
    with h5py.File(raw, "r") as f:
        ds = f["entry/data/data"]
        maximum = np.full(ds.shape[1:], -np.inf)
        sums = np.zeros(ds.shape[0])
        for z in range(ds.shape[0]):
            frame = ds[z]
            np.maximum(maximum, frame, out=maximum)
            sums[z] = frame.sum(dtype=np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if not CLI.is_file():
        sys.exit(f"{CLI} is missing: run `npm run build:server` first")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="reduce-bench-"))
    scan = work / "scan"
    write_tiff_scan(scan, ScanGeometry(frames=args.frames, shape=(619, 487), beam_center=(243.5, 309.5)))
    tiffs = sorted(scan.glob("frame_*.tif"))
    cbf_scan = work / "cbf"
    cbf_scan.mkdir(exist_ok=True)
    for z in range(args.frames):
        target = cbf_scan / f"frame_{z:05d}.cbf"
        if not target.exists():
            target.symlink_to(CBF)
    cbfs = sorted(cbf_scan.glob("*.cbf"))
    raw = scan / "nexus" / "raw.nxs"

    rows = []

    def compare(name: str, ours: tuple[float, float], baseline_name: str, baseline: tuple[float, float]) -> None:
        rows.append((name, ours, baseline_name, baseline))

    compare(
        "stack TIFF", timed(lambda: reduce("stack", "--scan", str(scan))),
        "tifffile + h5py", timed(lambda: python_stack(tiffs, work / "tiff-baseline.h5", tifffile.imread)),
    )
    compare(
        "stack CBF", timed(lambda: reduce("stack", "--scan", str(cbf_scan))),
        "fabio + h5py", timed(lambda: python_stack(cbfs, work / "cbf-baseline.h5", lambda p: fabio.open(str(p)).data)),
    )
    max_time = timed(lambda: reduce("max", "--scan", str(scan)))
    compare("max", max_time, "h5py + numpy", timed(lambda: numpy_max(raw)))
    compare("find", timed(lambda: reduce("find", "--scan", str(scan))), "nexus-reduce max", max_time)
    absolute = {
        step: timed(lambda step=step: reduce(step, "--scan", str(scan), *extra))
        for step, extra in (("refine", ()), ("prepare", ("--step", "0.1")), ("transform", ()), ("combine", ()))
    }

    print(f"nexus-reduce steps, {args.frames} frames of 619 x 487 ({work}); load average {os.getloadavg()[0]:.1f}")
    print(f"{'step':<12}{'wall/cpu (s)':>14}  {'baseline':<18}{'wall/cpu (s)':>14}{'cpu ratio':>10}")
    for name, ours, baseline_name, baseline in rows:
        print(
            f"{name:<12}{ours[0]:>7.2f}/{ours[1]:<6.2f}  {baseline_name:<18}{baseline[0]:>7.2f}/{baseline[1]:<6.2f}"
            f"{ours[1] / baseline[1]:>10.2f}"
        )
    for step, (wall, cpu) in absolute.items():
        print(f"{step:<12}{wall:>7.2f}/{cpu:<6.2f}")
    print("(ours = the whole CLI run including Node start-up; cpu ratio < 1 = less CPU than the baseline)")


if __name__ == "__main__":
    main()
