"""Benchmark: our companion server against h5grove 4 (Tornado) on the same files, in one run.

    .venv/bin/python test/bench/h5grove_bench.py [--frames 100] [--rounds 3] [--workdir DIR]

Generates a Pilatus-2M-size gzip stack (FRAMES x 1679 x 1475 int32, one chunk per frame) and a
group with 20,000 members, starts each server on loopback in turn, and prints latencies and the
ratio ours / h5grove for: cold frames (the first request for each of frames 0-9 in order, which
our server may have read ahead while serving the previous one; frame 0 alone never is), warm
frames (the same frames again, as when a user scrubs the slice slider back and forth), a
cross-section touching every chunk (`:,800,:`), /meta of the 20k group and the TIFF export of a
viewed frame (issue 2's format=tiff; no target). Targets (issue 2):
cold <= 1.0, warm <= 0.2, cross-section <= 0.5, 20k /meta < 0.5 s.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "jupyterlab_nexus" / "server" / "nexus-server.mjs"
SHAPE = (1679, 1475)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_files(folder: Path, frames: int) -> None:
    stack = folder / "pilatus_stack.h5"
    if not stack.exists():
        rng = np.random.default_rng(1)
        # Detector-like counts: mostly low Poisson background, compressible like real frames.
        background = rng.poisson(3.0, size=SHAPE).astype(np.int32)
        with h5py.File(stack, "w") as f:
            d = f.create_dataset(
                "entry/data/data", shape=(frames, *SHAPE), dtype="<i4", chunks=(1, *SHAPE), compression="gzip"
            )
            for z in range(frames):
                d[z] = np.roll(background, z * 7, axis=1) + z
            print(f"  wrote {stack} ({stack.stat().st_size / 1e6:.0f} MB)", file=sys.stderr)
    group = folder / "group_20k.h5"
    if not group.exists():
        with h5py.File(group, "w") as f:
            g = f.create_group("many")
            for i in range(20_000):
                g[f"item_{i:05d}"] = i
            print(f"  wrote {group}", file=sys.stderr)


class Server:
    def __init__(self, name: str, cmd: list[str], env: dict[str, str], port: int, headers: dict[str, str]):
        self.name, self.host, self.port, self.headers = name, "127.0.0.1", port, headers
        base = f"http://{self.host}:{port}"
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                requests.get(base + "/", headers=headers, timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"{name} did not start")

    def timed(self, endpoint: str, **params: str) -> float:
        # http.client reads the body in one call, as a browser's fetch does natively; requests'
        # pure-Python 10 kB chunk loop costs 10-30 ms per 10 MB frame, on both sides alike,
        # which would hide the servers' own difference.
        start = time.perf_counter()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        try:
            conn.request("GET", f"/{endpoint}?{urllib.parse.urlencode(params)}", headers=self.headers)
            r = conn.getresponse()
            body = r.read()
        finally:
            conn.close()
        elapsed = time.perf_counter() - start
        if r.status != 200:
            raise RuntimeError(f"{self.name} /{endpoint} {params}: {r.status} {body[:200]!r}")
        return elapsed

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def start_ours(folder: Path) -> Server:
    token = secrets.token_hex(16)
    port = free_port()
    return Server(
        "ours",
        ["node", str(BUNDLE), "--root", str(folder), "--port", str(port)],
        {**os.environ, "NEXUS_SERVER_TOKEN": token},
        port,
        {"Authorization": f"token {token}"},
    )


def start_h5grove(folder: Path) -> Server:
    port = free_port()
    app = (
        "import sys, tornado.web, tornado.ioloop\n"
        "from h5grove.tornado_utils import get_handlers\n"
        "app = tornado.web.Application(get_handlers(sys.argv[1]))\n"
        "app.listen(int(sys.argv[2]), address='127.0.0.1')\n"
        "tornado.ioloop.IOLoop.current().start()\n"
    )
    return Server("h5grove", [sys.executable, "-c", app, str(folder), str(port)], dict(os.environ), port, {})


def measured(start: Callable[[Path], Server], folder: Path, frames: int) -> dict[str, float]:
    """One fresh server, measured alone (no other server runs meanwhile)."""
    server = start(folder)
    try:
        return measure(server, frames)
    finally:
        server.stop()


def measure(server: Server, frames: int) -> dict[str, float]:
    stack = {"file": "pilatus_stack.h5", "path": "/entry/data/data", "format": "bin", "dtype": "safe"}
    server.timed("meta", file="pilatus_stack.h5", path="/entry/data/data")  # open the file once
    cold = [server.timed("data", selection=f"{z},:,:", **stack) for z in range(0, 10)]
    warm = [server.timed("data", selection=f"{z},:,:", **stack) for _ in range(3) for z in range(0, 10)]
    cross = [server.timed("data", selection=":,800,:", **stack) for _ in range(2)]
    meta = [server.timed("meta", file="group_20k.h5", path="/many") for _ in range(3)]
    # H5Web's TIFF export of frames just viewed (same file, not yet asked for as TIFF)
    tiff = [server.timed("data", selection=f"{z},:,:", **{**stack, "format": "tiff", "dtype": "origin"})
            for z in range(3)]
    return {
        "cold frame": statistics.median(cold),
        # frames 1-9 may come from our read-ahead while scrubbing; frame 0 never does
        "cold frame 0 (nothing read ahead)": cold[0],
        "warm frame": statistics.median(warm),
        "cross-section :,800,: (first)": cross[0],
        "cross-section :,800,: (again)": cross[1],
        "/meta 20k group (first)": meta[0],
        "/meta 20k group (again)": statistics.median(meta[1:]),
        "TIFF export of a viewed frame": statistics.median(tiff),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "nexus-bench")
    args = parser.parse_args()
    if not BUNDLE.exists():
        sys.exit(f"{BUNDLE} is missing: run `npm run build:server` first")
    args.workdir.mkdir(parents=True, exist_ok=True)
    make_files(args.workdir, args.frames)

    # Other work on the machine comes and goes: each round measures both servers, in alternating
    # order, and the report gives the median over rounds.
    rounds: list[tuple[dict[str, float], dict[str, float]]] = []
    for r in range(args.rounds):
        if r % 2 == 0:
            theirs_times = measured(start_h5grove, args.workdir, args.frames)
            ours_times = measured(start_ours, args.workdir, args.frames)
        else:
            ours_times = measured(start_ours, args.workdir, args.frames)
            theirs_times = measured(start_h5grove, args.workdir, args.frames)
        rounds.append((ours_times, theirs_times))

    targets = {"cold frame": 1.0, "warm frame": 0.2, "cross-section :,800,: (first)": 0.5}
    print(f"median of {args.rounds} round(s)")
    print(f"{'measure':34} {'ours (s)':>10} {'h5grove (s)':>12} {'ratio':>7}  target")
    for key in rounds[0][0]:
        ours_s = statistics.median(o[key] for o, _ in rounds)
        theirs_s = statistics.median(t[key] for _, t in rounds)
        ratio = statistics.median(o[key] / t[key] for o, t in rounds)
        target = f"<= {targets[key]}" if key in targets else ("< 0.5 s" if "20k group (first)" in key else "")
        print(f"{key:34} {ours_s:10.4f} {theirs_s:12.4f} {ratio:7.3f}  {target}")


if __name__ == "__main__":
    main()
